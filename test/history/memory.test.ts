// The in-memory history store against the shared contract: it is the reference the SQLite and
// Redis stores are measured by, so it must pass every case itself.
import t from 'tap'
import { MemoryHistory } from '../../src/history/memory.ts'
import { historyContract } from './contract.ts'

historyContract(t, async (limits) => new MemoryHistory(limits))
