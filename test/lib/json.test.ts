// jsonString is JSON.stringify of a string, taken on a fast path when nothing needs escaping:
// the two must agree on every UTF-16 code unit, alone and between others, and on surrogate pairs.
import t from 'tap'
import { jsonString } from '../../src/lib/json.ts'

t.test('jsonString writes what JSON.stringify writes, for every code unit', async (t) => {
  const differ: string[] = []
  for (let c = 0; c <= 0xffff; c++) {
    const ch = String.fromCharCode(c)
    for (const s of [ch, `a${ch}b`, `${ch}${ch}`, `\ud83c${ch}`, `${ch}\udf89`]) {
      if (jsonString(s) !== JSON.stringify(s)) differ.push(s.split('').map((u) => u.charCodeAt(0).toString(16)).join(' '))
    }
  }
  t.same(differ.slice(0, 10), [], 'no string differs')
  t.equal(jsonString('🎉 ok'), '"🎉 ok"', 'a surrogate pair is written as itself')
  t.equal(jsonString('\ud800'), '"\\ud800"', 'a lone surrogate is escaped')
  t.equal(jsonString('plain text'), '"plain text"')
})
