// Connection caps, decided at the handshake (admission.ts): at most MAX_CONNECTIONS
// WebSocket connections per process and MAX_CONNECTIONS_PER_IP per client address. A slot is
// taken when a handshake is admitted, before the upgrade, and given back when its TCP socket
// closes, so a burst of simultaneous handshakes cannot overshoot the caps while the first ones
// are still upgrading, and no path (refused later, upgrade failed, closed, terminated) leaks one.

export type CapRefusal = 'capacity' | 'per_ip'

export class ConnectionCaps {
  private total = 0
  private readonly perAddress = new Map<string, number>()

  constructor(
    readonly max: number,
    readonly maxPerAddress: number
  ) {}

  /** Connections holding a slot. */
  get size(): number {
    return this.total
  }

  /** Slots held by one address key (see addressKey). */
  held(key: string): number {
    return this.perAddress.get(key) ?? 0
  }

  /**
   * Take a slot for `key`, or say which cap refuses it. The per-address cap is checked first:
   * a client that alone fills its share learns that it is the one over (429), whatever else the
   * server is doing. The returned release is idempotent.
   */
  admit(key: string): CapRefusal | (() => void) {
    const held = this.perAddress.get(key) ?? 0
    if (held >= this.maxPerAddress) return 'per_ip'
    if (this.total >= this.max) return 'capacity'
    this.perAddress.set(key, held + 1)
    this.total++
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.perAddress.get(key) ?? 1) - 1
      // Dropped at zero, so the map is bounded by the addresses connected now.
      if (left <= 0) this.perAddress.delete(key)
      else this.perAddress.set(key, left)
    }
  }
}

/**
 * The key a client address is counted under: an IPv4 address as is (also when it arrives
 * IPv4-mapped, `::ffff:1.2.3.4`), an IPv6 address by its /64 — one subscriber usually holds a
 * whole /64, so counting single IPv6 addresses would let one client take 2^64 of them.
 */
export function addressKey(ip: string): string {
  const addr = ip.replace(/%.*$/, '').toLowerCase() // a zone id (fe80::1%eth0) names no one else
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(addr)
  if (mapped) return mapped[1]!
  if (!addr.includes(':')) return addr
  const groups = expandIpv6(addr)
  if (!groups) return addr // not an address we understand: counted as given
  return `${groups.slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of an IPv6 address (without leading zeros), or undefined. */
function expandIpv6(addr: string): string[] | undefined {
  const halves = addr.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string): string[] => (part === '' ? [] : part.split(':'))
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  // An embedded IPv4 address at the end counts as two groups.
  const last = tail.length ? tail : head
  if (last.length && last[last.length - 1]!.includes('.')) last.splice(last.length - 1, 1, '0', '0')
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail]
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined
  return groups.map((g) => g.replace(/^0+(?=.)/, ''))
}
