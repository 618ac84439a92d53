import t from 'tap'
import { limitsSuite } from './fastchat/limits.ts'
import { inProcess } from './helpers/fastchat.ts'

limitsSuite(t, inProcess)
