import Testing
@testable import MailMessage

/// Each case is (HTML, exact expected text).
@Suite("htmlToText")
struct HTMLTextTests {
    static let dashes = String(repeating: "-", count: 40)

    static let tokenizerCases: [(String, String)] = [
        ("Hello <b>world</b>", "Hello world"),
        ("<P>Upper <B>Case</B></P>", "Upper Case"),
        ("<DIV>a</DIV><Div>b</dIV>", "a\nb"),
        ("a<!-- hidden <p>x</p> -->b", "ab"),
        ("<!---->x<!-->y<!--->z", "xyz"),
        ("a --!> <!-- c --!>d", "a --!> d"),
        ("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\"><html><body>Hi</body></html>", "Hi"),
        ("<?xml version=\"1.0\"?><?xml:namespace prefix = o /><p>Hi</p>", "Hi"),
        ("a<![CDATA[ x > y ]]>b", "ab"),
        ("<![if !supportLists]>1.<![endif]>Item", "1.Item"),
        ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
        ("a<3 b", "a<3 b"),
        ("<<<<>>>>", "<<<<>>>>"),
        ("a</>b", "ab"),
        ("a</ 3>b", "ab"),
        ("a\u{0}b", "ab"),
        ("<a href='http://s.example/?q=\"x\"'>single</a>", "single <http://s.example/?q=\"x\">"),
        ("<a href=http://u.example/path>unquoted</a>", "unquoted <http://u.example/path>"),
        ("<a title=\"a > b\" href = \"http://x.example\">gt in value</a>", "gt in value <http://x.example>"),
        ("<a href=\"http://first.example\" HREF=\"http://second.example\">t</a>", "t <http://first.example>"),
        ("x<br/>y<BR>z<br />w", "x\ny\nz\nw"),
        ("<p class=MsoNormal>Hi<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p>Bye</p>", "Hi\n\nBye"),
        ("<v:shape id=x><v:textbox>Boxed</v:textbox></v:shape>", "Boxed"),
    ]

    /// Inputs a sender (or a broken mailer) can throw at us.
    static let hostileCases: [(String, String)] = [
        ("before<!-- never closed <p>gone</p>", "before"),
        ("x <", "x <"),
        ("x </", "x </"),
        ("text <b", "text"),
        ("<p", ""),
        ("text <a href=\"http://never.example", "text"),
        ("<div title='unterminated>text", ""),
        ("<div style=\"" + String(repeating: "a", count: 200_000) + "\">ok</div>", "ok"),
        ("<a href=\"http://x.example/" + String(repeating: "p", count: 10_000) + "\">t</a>",
         "t <http://x.example/" + String(repeating: "p", count: 10_000) + ">"),
        ("<script>if (a < b) { x = '</p>' + \"<b>\" }</script>Text", "Text"),
        ("<SCRIPT type=text/javascript>document.write('<b>x</b>')</SCRIPT >after", "after"),
        ("<script>a</scriptx>b</script>c", "c"),
        ("<script>never closed <p>x</p>", ""),
        ("<scripts>kept</scripts>", "kept"),
        ("<ul><li>a</ol>b", "- a\nb"),
        ("</ul></blockquote></pre></table></a>text", "text"),
        (String(repeating: "<div>", count: 5_000) + "deep" + String(repeating: "</div>", count: 5_000), "deep"),
        // Quote marks and list indentation stop at 32 levels.
        (String(repeating: "<blockquote>", count: 1_000) + "a<br>b",
         String(repeating: "> ", count: 32) + "a\n" + String(repeating: "> ", count: 32) + "b"),
        (String(repeating: "<ul>", count: 1_000) + "<li>a<br>b",
         String(repeating: "  ", count: 31) + "- a\n" + String(repeating: "  ", count: 32) + "b"),
        ("&" + String(repeating: "a", count: 5_000) + ";", "&" + String(repeating: "a", count: 5_000) + ";"),
        ("&#" + String(repeating: "9", count: 5_000) + ";", "\u{FFFD}"),
    ]

    static let droppedContentCases: [(String, String)] = [
        ("<style>p { color: red }</style><p>Body</p>", "Body"),
        ("<head><title>Subject</title><meta charset=utf-8><style>x</style></head><body>Body</body>", "Body"),
        ("<html><head><title>t</title></head><body><p>Body</p></body></html>", "Body"),
        ("<head><title>t</title><p>No body tag</p>", "No body tag"),
        ("<head><xml><o:DocumentProperties>Bob</o:DocumentProperties></xml></head>Body", "Body"),
        ("<template><p>hidden<template>nested</template>still</p></template>shown", "shown"),
        ("<noscript>Enable JS</noscript>shown", "shown"),
        ("<title>Only title</title>", ""),
    ]

    static let whitespaceCases: [(String, String)] = [
        ("  a \n\t b   c  ", "a b c"),
        ("<p>\n  Hello,\n  world\n</p>", "Hello, world"),
        ("a<b> b </b> c", "a b c"),
        ("a\r\nb", "a b"),
        ("<pre>\nline 1\n  indented\n\ttab</pre>", "line 1\n  indented\n\ttab"),
        ("<pre>a  b</pre>after", "a  b\nafter"),
        ("x<PRE>\r\n  code\r\n</PRE>", "x\n  code"),
        ("<pre>a&#10;b &lt;c&gt;</pre>", "a\nb <c>"),
        ("a&nbsp;&nbsp;b", "a  b"),
        ("a&nbsp;b\u{00A0}c", "a b c"),
        ("<p>&nbsp;&nbsp;Indented</p>", "  Indented"),
        ("a&#10;b&#9;c", "a b c"),
    ]

    static let blockCases: [(String, String)] = [
        ("<div>one</div><div>two</div>", "one\ntwo"),
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<h1>Title</h1>Text<h2>Sub</h2><p>Para</p>", "Title\n\nText\n\nSub\n\nPara"),
        ("a<br>b", "a\nb"),
        ("a<br><br>b", "a\n\nb"),
        ("a<br><br><br><br>b", "a\n\nb"),
        ("<p>a<br></p><p>b</p>", "a\n\nb"),
        ("<div>a<br></div>b", "a\nb"),
        ("above<hr>below", "above\n\(dashes)\nbelow"),
        ("<p>above</p><hr/><p>below</p>", "above\n\n\(dashes)\n\nbelow"),
        ("<section><header>Head</header><article>Body</article><footer>Foot</footer></section>",
         "Head\nBody\nFoot"),
        ("<dl><dt>Term</dt><dd>Definition</dd></dl>", "Term\nDefinition"),
        ("<center>c</center><address>addr</address><form>f</form>", "c\naddr\nf"),
        ("inline <span>span</span> <div>block</div> tail", "inline span\nblock\ntail"),
        ("<p></p><p></p><p>x</p><p></p>", "x"),
    ]

    /// Cells are joined with " | "; cells with no text are skipped (layout spacer cells).
    static let tableCases: [(String, String)] = [
        ("<table><tr><th>Name</th><th>Value</th></tr><tr><td>CPU</td><td>90%</td></tr></table>",
         "Name | Value\nCPU | 90%"),
        ("<table>\n  <tr>\n    <td> a </td>\n    <td> b </td>\n  </tr>\n</table>", "a | b"),
        ("<table><tr><td><p class=MsoNormal>Name<o:p></o:p></p></td><td><p class=MsoNormal>Value<o:p></o:p></p></td></tr></table>",
         "Name | Value"),
        ("<table><tr><td>a</td><td>&nbsp;</td><td></td><td>b</td></tr></table>", "a | b"),
        ("before<table><tr><td>x</td></tr></table>after", "before\nx\nafter"),
        ("<table><tr><td>a<td>b<tr><td>c<td>d</table>", "a | b\nc | d"),
        ("<table><tr><td>left</td><td><table><tr><td>i1</td><td>i2</td></tr><tr><td>i3</td></tr></table></td><td>right</td></tr></table>",
         "left\ni1 | i2\ni3\nright"),
        ("<table><tr><td><p>Para 1</p><p>Para 2</p></td></tr></table><table><tr><td><p>Next</p></td></tr></table>",
         "Para 1\n\nPara 2\n\nNext"),
        // Paragraph margins survive between rows, as in a browser.
        ("<table><tr><td><p>a</p></td><td><p>b</p></td></tr><tr><td><p>c</p></td><td><p>d</p></td></tr></table>",
         "a | b\n\nc | d"),
        ("<td>a</td><td>b</td>", "a | b"),
    ]

    static let listCases: [(String, String)] = [
        ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
        ("<ul>\n  <li>one</li>\n  <li>two</li>\n</ul>", "- one\n- two"),
        ("<OL><LI>one<LI>two</OL>", "1. one\n2. two"),
        ("<ol start=\"3\"><li>c</li><li>d</li></ol>", "3. c\n4. d"),
        ("<ul><li>a<ul><li>a1</li><li>a2<ol><li>x</li><li>y</li></ol></li></ul></li><li>b</li></ul>",
         "- a\n  - a1\n  - a2\n    1. x\n    2. y\n- b"),
        ("<p>Steps:</p><ol><li><p>First</p></li><li><p>Second</p></li></ol>", "Steps:\n\n1. First\n\n2. Second"),
        ("<ul><li>line one<br>line two</li></ul>", "- line one\n  line two"),
        ("<li>orphan</li>", "- orphan"),
        ("<ul><li></li><li>b</li></ul><p>after</p>", "- b\n\nafter"),
        ("<p>Intro</p><ul><li>x</li></ul>Outro", "Intro\n\n- x\nOutro"),
    ]

    static let blockquoteCases: [(String, String)] = [
        ("<blockquote>quoted</blockquote>", "> quoted"),
        ("<p>Bob wrote:</p><blockquote><p>Line 1</p><p>Line 2</p></blockquote><p>Reply</p>",
         "Bob wrote:\n\n> Line 1\n>\n> Line 2\n\nReply"),
        ("<blockquote>outer<blockquote>inner</blockquote>back</blockquote>", "> outer\n> > inner\n> back"),
        ("<blockquote>a<br><br>b</blockquote>", "> a\n>\n> b"),
        ("<blockquote><ul><li>item</li></ul></blockquote>", "> - item"),
        ("<div dir=\"ltr\">Thanks!</div><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Mon, Bob &lt;<a href=\"mailto:bob@example.com\">bob@example.com</a>&gt; wrote:<br></div><blockquote class=\"gmail_quote\"><div dir=\"ltr\">Original</div></blockquote></div>",
         "Thanks!\n\nOn Mon, Bob <bob@example.com> wrote:\n> Original"),
    ]

    static let linkCases: [(String, String)] = [
        ("<a href=\"https://example.com/reset\">Reset password</a>", "Reset password <https://example.com/reset>"),
        ("<a href=\"https://example.com\">https://example.com</a>", "https://example.com"),
        ("<a href=\"https://example.com/\">example.com</a>", "example.com"),
        ("<a href=\"mailto:help@example.com\">help@example.com</a>", "help@example.com"),
        ("<a href=\"MAILTO:Help@Example.com?subject=Hi\">help@example.com</a>", "help@example.com"),
        ("<a href=\"mailto:help@example.com\">Email us</a>", "Email us <mailto:help@example.com>"),
        ("<a href=\"#top\">Back to top</a>", "Back to top"),
        ("<a href=\"javascript:void(0)\">Click</a>", "Click"),
        ("<a href=\" JavaScript:alert(1)\">x</a>", "x"),
        ("<a name=\"anchor\">Named</a>", "Named"),
        ("<a href=\"https://e.example/?a=1&amp;b=2&copy=3\">Q</a>", "Q <https://e.example/?a=1&b=2&copy=3>"),
        ("See <a href=\"http://x.example\">this</a>, then", "See this <http://x.example>, then"),
        ("<a href=\"http://x.example\">click </a>here", "click <http://x.example> here"),
        ("<a href=\"http://evil.example\">https://bank.example</a>", "https://bank.example <http://evil.example>"),
        ("<a href=\"http://x.example\"><img src=\"logo.png\" alt=\"Logo\"></a>", "[Logo] <http://x.example>"),
        ("<a href=\"http://x.example\"><img src=\"spacer.gif\"></a>Text", "Text"),
        ("<a href=\"\n  http://x.example/a\nb  \">t</a>", "t <http://x.example/ab>"),
        ("<a href=\"http://x.example\">unclosed", "unclosed <http://x.example>"),
        ("<a href=\"http://a.example\">a<a href=\"http://b.example\">b</a>", "a <http://a.example>b <http://b.example>"),
    ]

    static let imageCases: [(String, String)] = [
        ("<img src=\"a.png\" alt=\"Company logo\">", "[Company logo]"),
        ("<img src=\"a.png\" alt=\"\">", ""),
        ("<img src=\"a.png\">", ""),
        ("Hi <img alt=\"&quot;smile&quot;\" src=x> there", "Hi [\"smile\"] there"),
        ("<IMG SRC=x ALT='  spaced   out  '>", "[spaced out]"),
    ]

    static let entityCases: [(String, String)] = [
        ("&lt;b&gt; &amp; &quot;q&quot; &apos;a&apos;", "<b> & \"q\" 'a'"),
        ("&copy; &reg; &trade; &hellip; &mdash; &ndash;", "© ® ™ … — –"),
        ("&lsquo;x&rsquo; &ldquo;y&rdquo; &bull; &middot; &euro; &pound; &yen; &cent;", "‘x’ “y” • · € £ ¥ ¢"),
        ("&sect; &para; &deg; &plusmn; &times; &divide; &frac12; &frac14; &frac34;", "§ ¶ ° ± × ÷ ½ ¼ ¾"),
        ("&laquo;&raquo; &iexcl;&iquest;", "«» ¡¿"),
        ("&eacute;&uuml;&szlig;&ntilde;&aring;&oslash;&aelig;&ccedil; &Eacute;&AElig;&Oslash;&THORN;&yuml;",
         "éüßñåøæç ÉÆØÞÿ"),
        ("&Alpha;&omega;&thetasym; &lang;&rang; &hearts;", "Αωϑ ⟨⟩ ♥"),
        ("&#233; &#xE9; &#XE9; &#x1F600; &#65", "é é é 😀 A"),
        ("&#0; &#xD800; &#xDFFF; &#x110000; &#99999999999;", "\u{FFFD} \u{FFFD} \u{FFFD} \u{FFFD} \u{FFFD}"),
        ("&#128; &#150; &#151; &#153; &#x92;", "€ – — ™ ’"),
        ("fish &amp chips &AMP; &nbspx", "fish & chips &  x"),
        ("&copy2024 &eacute", "©2024 é"),
        ("&foo; &bogus; AT&T &#; &#x; &hellip & alone &", "&foo; &bogus; AT&T &#; &#x; &hellip & alone &"),
        ("&nbsp;", ""),
    ]

    /// Spot checks across the rest of the HTML 4 entity table.
    static let moreEntityCases: [(String, String)] = [
        ("&OElig;&scaron;&Yuml;&fnof;&circ;&tilde;", "ŒšŸƒˆ˜"),
        ("&ensp;&emsp;&thinsp;|", "\u{2002}\u{2003}\u{2009}|"),
        ("&sbquo;&bdquo;&dagger;&Dagger;&permil;&lsaquo;&rsaquo;", "‚„†‡‰‹›"),
        ("&larr;&rArr;&forall;&infin;&ne;&le;&ge;&sdot;&loz;&diams;", "←⇒∀∞≠≤≥⋅◊♦"),
        ("&micro;&ordf;&ordm;&sup1;&sup2;&sup3;&acute;&cedil;&macr;&uml;&brvbar;&curren;&not;", "µªº¹²³´¸¯¨¦¤¬"),
    ]

    static let outputCases: [(String, String)] = [
        ("", ""),
        ("<html></html>", ""),
        ("\n\n<p>x</p>\n\n", "x"),
        ("<br><br>text<br><br>", "text"),
        ("<p>trailing   </p>", "trailing"),
        ("<p>trailing&nbsp;&nbsp;</p>", "trailing"),
        ("<pre>a   \n\n\n\nb</pre>", "a\n\nb"),
        ("<div><p>a</p></div><div><p>b</p></div>", "a\n\nb"),
    ]

    @Test(arguments: tokenizerCases) func tokenizer(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: hostileCases) func hostile(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: droppedContentCases) func droppedContent(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: whitespaceCases) func whitespace(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: blockCases) func blocks(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: tableCases) func tables(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: listCases) func lists(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: blockquoteCases) func blockquotes(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: linkCases) func links(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: imageCases) func images(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: entityCases) func entities(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    @Test(arguments: outputCases) func output(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }

    /// A typical Outlook reply, end to end.
    @Test func outlookMessage() {
        let html = """
            <html xmlns:o="urn:schemas-microsoft-com:office:office"><head>
            <meta http-equiv=Content-Type content="text/html; charset=utf-8">
            <style><!-- p.MsoNormal {margin:0cm;} --></style>
            <!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml><![endif]-->
            </head>
            <body lang=EN-GB link="#0563C1">
            <div class=WordSection1>
            <p class=MsoNormal>Hi team,<o:p></o:p></p>
            <p class=MsoNormal><o:p>&nbsp;</o:p></p>
            <p class=MsoNormal>The printer on floor&nbsp;3 shows &#8220;PC LOAD LETTER&#8221;.<o:p></o:p></p>
            <p class=MsoNormal>Regards,<br>Alice<o:p></o:p></p>
            <div style='border:none;border-top:solid #E1E1E1 1.0pt'>
            <p class=MsoNormal><b>From:</b> Bob &lt;bob@example.com&gt;<br><b>Sent:</b> Monday<o:p></o:p></p>
            </div></div></body></html>
            """
        #expect(htmlToText(html) == """
            Hi team,

            The printer on floor 3 shows “PC LOAD LETTER”.

            Regards,
            Alice

            From: Bob <bob@example.com>
            Sent: Monday
            """)
    }

    @Test(arguments: moreEntityCases) func moreEntities(html: String, expected: String) {
        #expect(htmlToText(html) == expected)
    }
}
