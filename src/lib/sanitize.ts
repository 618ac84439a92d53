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

/** Length as a person counts it: code points, so an emoji is one character, not two. */
export function codePointLength(text: string): number {
  let n = 0
  for (const _ of text) n++
  return n
}
