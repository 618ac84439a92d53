// The sanitizer behind chat content and display names (src/lib/sanitize.ts).
import t from 'tap'
import fc from 'fast-check'
import { codePointLength, sanitizeText } from '../../src/lib/sanitize.ts'
import { cleanedText, cleanText, CONTENT_LENGTH, DISPLAY_NAME_LENGTH } from '../../src/protocol/fastchat.ts'

t.test('tags go, script/style bodies go, prose angle brackets and entities stay as typed', async (t) => {
  const cases: [string, string][] = [
    ['<script>x</script>hi', 'hi'],
    ['<SCRIPT type="text/javascript">alert(1)</SCRIPT>after', 'after'],
    ['<style>p { color: red }</style>text', 'text'],
    ['<b>bold</b> and <i>italic</i>', 'bold and italic'],
    ['<a href="javascript:alert(1)">link</a>', 'link'],
    ['Hello <img src=x onerror=alert(1)>world', 'Hello world'],
    ['a < b', 'a < b'],
    ['a > b', 'a > b'],
    ['x < y > z', 'x < y > z'],
    ['1 <2 and 3> 2', '1 <2 and 3> 2'],
    ['I <3 you', 'I <3 you'],
    ['<- arrow', '<- arrow'],
    ['tom & jerry', 'tom & jerry'],
    ['&lt;script&gt; stays text', '&lt;script&gt; stays text'],
    ['&amp;', '&amp;'],
    ['<!-- hidden -->shown', 'shown'],
    ['<![CDATA[x]]>y', 'y'],
    ['<b></b>', ''],
    ['<scr<script>x</script>ipt>alert(1)</script>', 'xipt>alert(1)'], // `scr<script` is one (odd) tag name
    ['<<b>script>alert(1)<</b>/script>', ''],
    ['é ü 😀 <i>ok</i>', 'é ü 😀 ok'],
    ['', '']
  ]
  for (const [input, expected] of cases) t.equal(sanitizeText(input), expected, JSON.stringify(input))
})

t.test('idempotent: sanitizing twice is sanitizing once', async (t) => {
  const token = fc.constantFrom('<', '>', '/', '!', '-', '<!--', '-->', '&', '&lt;', '&amp;', ';', 'a', 'b', ' ', '"', "'", '=',
    'script', 'style', '<b>', '</b>', '<script>', '</script>', '?', 'é', '\n', '[CDATA[', ']]>', 'textarea')
  const htmlish = fc.array(token, { maxLength: 40 }).map((parts) => parts.join(''))
  fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), htmlish), (s) => {
    const once = sanitizeText(s)
    return sanitizeText(once) === once
  }), { numRuns: 5000 })
  // Nesting that uncovers a new tag on every pass still ends at a fixpoint.
  const nested = '<'.repeat(50) + 'b>'.repeat(50) + 'x'
  const once = sanitizeText(nested)
  t.equal(sanitizeText(once), once)
  t.notMatch(once, /<[a-zA-Z/!?]/, 'no markup left')
})

t.test('60 KB of unclosed markup is cheap', async (t) => {
  const size = 60 * 1024
  // Tens of thousands of real tags (`</`, `<<b>`) cost the parser ~25 ms here; the bound for
  // those is looser so a busy CI machine does not fail on them.
  for (const [unit, boundMs] of [['<', 50], ['<a', 50], ['<!--', 50], ['<a ', 50], ['<script>', 50], ['< b', 50], ['</', 150], ['<<b>', 150]] as const) {
    const input = unit.repeat(Math.ceil(size / unit.length))
    sanitizeText(input) // warm up
    let best = Infinity
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      sanitizeText(input)
      best = Math.min(best, performance.now() - start)
    }
    t.ok(best < boundMs, `${JSON.stringify(unit)} × ${input.length / unit.length}: ${best.toFixed(1)} ms (bound ${boundMs})`)
  }
})

t.test('length is counted in code points, after sanitizing and trimming', async (t) => {
  t.equal(codePointLength('😀😀'), 2)
  t.equal(codePointLength('é'), 1)
  t.same(cleanText('😀'.repeat(1000), CONTENT_LENGTH), { ok: true, text: '😀'.repeat(1000) })
  t.equal(cleanText('😀'.repeat(1001), CONTENT_LENGTH).ok, false)
  t.same(cleanText(`<b>${'x'.repeat(1000)}</b>`, CONTENT_LENGTH), { ok: true, text: 'x'.repeat(1000) }, 'markup does not count')
  t.same(cleanText('  padded  ', CONTENT_LENGTH), { ok: true, text: 'padded' })
  t.equal(cleanText('<p> </p>', CONTENT_LENGTH).ok, false, 'nothing left')
})

t.test('a surrogate pair the sanitizer cuts in tag-like text leaves no lone surrogate, and cleaning stays idempotent', async (t) => {
  // The fuzz suite's counterexample (test/chaos/fuzz.test.ts, seed 513104128).
  const once = cleanText('</a 𐀀', { ...CONTENT_LENGTH, min: 0 })
  t.same(once, { ok: true, text: '\uFFFD' })
  t.same(cleanText('\uFFFD', { ...CONTENT_LENGTH, min: 0 }), once)
})

t.test('cleanText\'s fast path for plain ASCII gives what the full passes give', async (t) => {
  // Mostly what the fast path takes, with the characters that must leave it mixed in.
  const char = fc.constantFrom(...'ab Z09 &;>~!'.split(''), '<', '\t', '\n', '\r', '\u0000', '\u007f', '\u0085', 'é', '\u202e', '\u200b', '\ud800', '😀')
  // The property's verdict goes back to fast-check, so a failure is shrunk to its smallest string.
  fc.assert(fc.property(fc.array(char, { maxLength: 40 }).map((cs) => cs.join('')), (raw) => {
    for (const [kind, rule] of [['content', CONTENT_LENGTH], ['name', DISPLAY_NAME_LENGTH]] as const) {
      const text = cleanedText(raw, kind)
      const length = codePointLength(text)
      const expected = length >= rule.min && length <= rule.max ? { ok: true, text } : { ok: false, message: `must be ${rule.min}–${rule.max} characters after removing HTML (got ${length})` }
      if (JSON.stringify(cleanText(raw, rule)) !== JSON.stringify(expected)) return false
    }
    return true
  }), { numRuns: 2000 })
  t.pass('2,000 strings cleaned as the full passes clean them, as content and as names')
})
