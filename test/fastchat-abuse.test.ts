import t from 'tap'
import { abuseSuite } from './fastchat/abuse.ts'
import { inProcess } from './helpers/fastchat.ts'

abuseSuite(t, inProcess)
