import t from 'tap'
import { presenceSuite } from './fastchat/presence.ts'
import { inProcess } from './helpers/fastchat.ts'

presenceSuite(t, inProcess)
