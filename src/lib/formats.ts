// JSON Schema string formats TypeBox checks (it knows none by default). Imported by every
// protocol file that uses `format`, so compiled validators and Value.Check agree.
import { FormatRegistry } from '@sinclair/typebox'

const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)))
