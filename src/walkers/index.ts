// What a walker module imports: defineWalker, TypeBox's Type for the fields schema, and the
// types of the context it runs with. Walkers need nothing else from the service.
export { Type, type Static } from '@sinclair/typebox'
export { defineWalker, type Walker, type WalkerContext, type WalkerLogger, type WalkerOptions, type WalkerProtocol } from './define.ts'
export type { VerifiedUser } from '../auth/tokens.ts'
