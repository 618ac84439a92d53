// Turns user text (chat content, display names) into plain text with no markup: tags removed,
// script/style bodies removed, a lone `<` or `>` in prose kept (`a < b` stays `a < b`), entities
// left exactly as typed. sanitize-html (htmlparser2, a real HTML tokenizer) does the parsing;
// see docs/fastchat.md for why it was picked over string-strip-html.
import sanitizeHtml from 'sanitize-html'

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [],
  allowedAttributes: {},
  disallowedTagsMode: 'discard',
  // Elements whose body is code, markup or hidden UI rather than prose: dropped with the tag.
  nonTextTags: ['script', 'style', 'textarea', 'option', 'xmp', 'noscript', 'template', 'iframe', 'noembed', 'noframes', 'title']
}

// htmlparser2 opens markup only at `<` followed by an ASCII letter, `/`, `!` or `?`. Text
// without that is already plain and skips the parser, which keeps e.g. 60 KB of `<` cheap.
const MAY_BE_MARKUP = /<[a-zA-Z/!?]/

// Adversarial nesting (`<<b>b>`) makes each pass uncover a new tag; past this many passes the
// remaining angle brackets go, which cannot uncover anything more.
const MAX_PASSES = 4

const UNESCAPE: Record<string, string> = { '&lt;': '<', '&gt;': '>', '&amp;': '&' }

/**
 * One parse. Every `&` is escaped first so the parser decodes nothing: the text comes out
 * exactly as typed (`&lt;` stays `&lt;`, so no entity can turn into markup). sanitize-html
 * escapes text on output, which is undone; its escaping is exactly those three entities.
 */
function pass(text: string): string {
  return sanitizeHtml(text.replace(/&/g, '&amp;'), OPTIONS).replace(/&(?:lt|gt|amp);/g, (e) => UNESCAPE[e]!)
}

/**
 * Markup-free plain text. Idempotent: the result is a fixpoint (sanitizing it again returns it
 * unchanged), because removing one tag can join the text around it into a new one.
 * Does not trim; callers decide about whitespace.
 */
export function sanitizeText(input: string): string {
  let text = input
  for (let i = 0; i < MAX_PASSES; i++) {
    if (!MAY_BE_MARKUP.test(text)) return text
    const next = pass(text)
    if (next === text) return text
    text = next
  }
  return MAY_BE_MARKUP.test(text) ? text.replace(/[<>]/g, '') : text
}

// A UTF-16 half without its other half: not a character. Left in, it would be sent on escaped
// (`\ud800`), and clients that re-encode text as UTF-8 (Python, Go, Rust) fail on it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
// C0 and C1 controls (NUL, ESC, …): terminal escape sequences in a log viewer, truncation in C
// clients. Tab, newline and carriage return are prose.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROLS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g
// Bidi embeddings, overrides and isolates reorder the text around them ("invoice\u202Efdp.exe"
// shows as "invoiceexe.pdf"). Natural RTL text needs none of them; the marks (LRM, RLM) stay.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g
// Names tell users apart, so every control and invisible format character goes (zero-width space,
// BOM, bidi marks, …) but the (non-)joiners emoji and several scripts need and flag emoji's tags.
// eslint-disable-next-line no-misleading-character-class -- the joiners are listed one by one on purpose
const INVISIBLE_IN_NAMES = /(?![\u200C\u200D\u{E0020}-\u{E007F}])[\p{Cc}\p{Cf}]/gu

export type TextKind = 'name' | 'content'

/**
 * User text with the characters removed that deceive readers or break clients: lone
 * surrogates become U+FFFD; controls (but tab and newlines in content) and bidi overrides go;
 * in names every invisible format character goes too. Run before sanitizeText, so a removed
 * character cannot join `<` and a letter into a tag behind the sanitizer's back.
 */
export function stripUnsafeChars(text: string, kind: TextKind): string {
  const wellFormed = text.replace(LONE_SURROGATE, '\uFFFD')
  // A name is one line: its tabs and line breaks read as spaces, not as nothing.
  if (kind === 'name') return wellFormed.replace(/[\t\n\r]/g, ' ').replace(INVISIBLE_IN_NAMES, '')
  return wellFormed.replace(CONTROLS, '').replace(BIDI_CONTROLS, '')
}

/** Length as a person counts it: code points, so an emoji is one character, not two. */
export function codePointLength(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}
