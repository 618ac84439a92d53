// TRUST_PROXY as one function, used by Fastify (request.ip, hostname, protocol) and by the direct
// upgrade (src/transport/direct-upgrade.ts), so both see the same client address behind the same proxies.
import proxyAddr from '@fastify/proxy-addr'

/** Which hop addresses to trust: `(address, hopIndex) => trusted`; undefined trusts none. */
export type TrustProxy = (address: string, hop: number) => boolean

/** TRUST_PROXY's value: true, false, a hop count, or a comma list of addresses and CIDRs. */
export function trustProxyFn(value: string): TrustProxy | undefined {
  if (value === 'false') return undefined
  if (value === 'true') return () => true
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_addr, i) => i < hops // trust the nearest `hops` proxies
  }
  return proxyAddr.compile(value.split(',').map((s) => s.trim()).filter(Boolean))
}
