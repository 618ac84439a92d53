import t from 'tap'
import { chatSuite } from './fastchat/chat.ts'
import { inProcess } from './helpers/fastchat.ts'

chatSuite(t, inProcess)
