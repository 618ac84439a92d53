// Why a chat message was not delivered, as the ERROR its sender gets: shared by the relay and the
// history's stored relay so both answer the same cases with the same words.
import { ErrorCode } from '../protocol/error-codes.ts'

export interface Failure {
  code: ErrorCode
  message: string
}

export const NOT_ONLINE: Failure = { code: ErrorCode.USER_NOT_FOUND, message: 'user is not online' }
export const NOT_KNOWN: Failure = { code: ErrorCode.USER_NOT_FOUND, message: 'user is not known' }
export const NOT_OPENED: Failure = { code: ErrorCode.CHAT_NOT_OPENED, message: 'open a chat with this user first' }
export const NOT_TAKEN: Failure = { code: ErrorCode.MESSAGE_FAILED, message: 'the message could not be handed to the recipient' }
export const NOT_STORED: Failure = { code: ErrorCode.MESSAGE_FAILED, message: 'the message could not be stored; retry it with the same message_id' }
