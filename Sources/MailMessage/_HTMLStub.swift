public func htmlToText(_ html: String) -> String { html }
