/// A value as it may appear in a log line: every character that could end a line, start an
/// escape sequence, reorder text or separate fields (controls, format characters such as
/// bidi overrides, line and paragraph separators, spaces) becomes `\xNN` or `\u{NNNN}`, and
/// a backslash becomes `\\`. A value from a message can then never forge a field or a line.
public func logSafe(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for scalar in s.unicodeScalars {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .spaceSeparator, .surrogate, .privateUse, .unassigned:
            out += scalar.value < 0x100 ? "\\x" + hex(scalar.value, 2) : "\\u{" + hex(scalar.value, 4) + "}"
        default:
            if scalar == "\\" { out += "\\\\" } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out
}

private func hex(_ v: UInt32, _ width: Int) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}
