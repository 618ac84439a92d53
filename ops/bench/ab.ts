// Switchboard against Switchboard: the tree before a change (a git revision) and the tree after
// it (the work tree, or another revision), measured in the same run. For a refactor that must
// not cost throughput (issue 14: "each ratio new/old ≥ 0.97", A/B, at least 5 rounds).
//
//   npm run bench -- --against REV              old = REV, new = the work tree: echo, echo-json, walker, relay
//   npm run bench -- --against REV --new REV2   new = another revision (the work tree need not compile)
//   npm run bench -- --against REV relay        only these: echo, echo-json (or echojson), walker, relay,
//                                               connect, or their numbers in run.ts (1–4, 8)
//   options: --rounds N (default 10)  --out FILE  --min-ratio R (default 0.97)
//            --check (exit 1 when a row's new/old is below --min-ratio)  --profile (as in run.ts)
//            --quiet-wait S (default 60; 0: off)  --retries N (default 3): see below
//
// Each side is compiled from its own sources as run.ts compiles the work tree (lib/harness.ts):
// a revision is exported with `git archive` into a temporary directory (no worktree: the
// repository is left as it is), linked to this tree's node_modules, and built with its own
// ops/bench/tsconfig.build.json and its own servers/switchboard.ts entry. The load generator and
// the jobs are this tree's, the same for both sides. Every run starts a fresh server pinned to
// core 0 with the load generator on core 1; old and new alternate within each round, which goes
// first flipping every round; the table gives the ratio of the medians and, for the noise, the
// lowest and highest ratio of a round's two runs.
//
// The machine is shared (builds and test suites of other work come and go), and a difference of
// 3 % is what is looked for: before every run the harness waits until both cores have been idle
// for half a second (at most --quiet-wait seconds), and a run that other processes disturbed is
// run again, up to --retries times: the server had less than 95 % of its core (and the load
// generator was not the limit), or other processes took more than 15 % of either core. The
// notes count both; a run still disturbed after its retries is kept.
// One bench at a time: run.ts and ab.ts, from any tree, wait for $TMPDIR/switchboard-bench.lock.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { alternate, benchLock, buildLoadgen, buildTree, CLIENT_CORE, conditions, fmt, log, once, removeBuild, root, SERVER_CORE, SWITCHBOARD_ENV, waitForQuiet, writeResult, type Build } from './lib/harness.ts'
import { bootstrapRatio } from './lib/stats.ts'
import { compareRuns, describeRate, othersPct, saturationFlag, saturationSpecs, TIMING, type RateResult, type SaturationName } from './lib/saturation.ts'

/** Whether the command line asks for an A/B run of two trees rather than run.ts's comparison with raw ws. */
export const isAbRun = (argv: string[]) => argv.some((a) => /^--(against|new)(=|$)/.test(a))

const DEFAULT_SCENARIOS: SaturationName[] = ['echo', 'echo-json', 'walker', 'relay']
const ALIASES: Record<string, SaturationName> = {
  echo: 'echo', 1: 'echo', 'echo-json': 'echo-json', echojson: 'echo-json', 2: 'echo-json',
  walker: 'walker', 3: 'walker', relay: 'relay', 4: 'relay', connect: 'connect', 8: 'connect'
}

function git(args: string[]): string {
  const run = spawnSync('git', args, { cwd: root, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`git ${args.join(' ')} failed:\n${run.stderr}`)
  return run.stdout.trim()
}

/** One side of the comparison: where its sources are, and what to call it. */
interface Tree {
  role: 'old' | 'new'
  /** As the table names it: the revision as given and its commit, or "work tree". */
  label: string
  commit: string
  /** The revision's sources exported to a temporary directory; undefined for the work tree. */
  exported?: string
  build?: Build
}

function revision(role: Tree['role'], rev: string): Tree {
  const commit = git(['rev-parse', '--verify', '--end-of-options', `${rev}^{commit}`])
  const short = commit.slice(0, 7)
  const dir = mkdtempSync(join(tmpdir(), `switchboard-ab-${role}-${short}-`))
  try {
    const tar = join(dir, '.tree.tar')
    git(['archive', '--format=tar', '-o', tar, commit])
    const untar = spawnSync('tar', ['-xf', tar, '-C', dir], { encoding: 'utf8' })
    if (untar.status !== 0) throw new Error(`tar -xf failed:\n${untar.stderr}`)
    rmSync(tar)
    // tsc and esbuild resolve packages from the sources' place; every tree runs on this tree's.
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return { role, label: rev === short || rev === commit ? short : `${rev} (${short})`, commit, exported: dir }
}

function workTree(): Tree {
  const commit = git(['rev-parse', 'HEAD'])
  const changed = git(['status', '--porcelain', '--', 'src', 'plugins', 'routes', 'ops/bench', ':(exclude)ops/bench/results', 'package.json', 'tsconfig.json', 'tsconfig.build.json']).split('\n').filter(Boolean).length
  return { role: 'new', label: `work tree (HEAD ${commit.slice(0, 7)}${changed ? `, ${changed} file(s) changed` : ', clean'})`, commit }
}

/** Other processes took the server's core, or a share of either core that moves a result by a few %. */
function disturbed(r: RateResult): boolean {
  const clientBound = saturationFlag(r) === 'client-bound'
  return (r.window.serverCpuPct < 95 && !clientBound) || othersPct(r) > 15
}

/** What the JSON keeps of every run, for the noise. */
const raw = (r: RateResult) => ({
  rate: Math.round(r.rate), perCpuSecond: Math.round(r.perCpuSecond), serverCpuPct: Math.round(r.window.serverCpuPct),
  clientCpuPct: Math.round(r.window.clientCpuPct), coreBusyPct: r.window.coreBusyPct, p50: r.p50, p99: r.p99, errors: r.errors
})

/** A row of the A/B table. */
interface AbRow {
  id: string
  scenario: string
  metric: string
  old: number
  new: number
  /** Median of new ÷ median of old. */
  ratio: number
  perCpuRatio: number
  /** Each round's new ÷ old (its two runs were next to each other): the noise. */
  roundRatios: number[]
  /** A 90 % bootstrap interval of `ratio`. */
  interval: [number, number]
  met: boolean
  runs: { old: ReturnType<typeof raw>[]; new: ReturnType<typeof raw>[] }
  cpu: string
  latency: string
  notes: string[]
}

function table(rows: AbRow[], trees: [Tree, Tree], minRatio: number): string {
  const lines = [
    `| scenario | metric | old: ${trees[0].label} | new: ${trees[1].label} | new/old | per CPU-s new/old | 90 % interval | rounds' new/old (min–max) | server CPU % (old / new) | p50/p99 ms (old · new) | ≥ ${minRatio} | notes |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    const spread = `${Math.min(...r.roundRatios).toFixed(3)}–${Math.max(...r.roundRatios).toFixed(3)}`
    // Below the line, but noise alone could have put it there: say so rather than a bare "no".
    const met = r.met ? 'yes' : r.interval[1] >= minRatio ? 'no (within the noise)' : 'no'
    lines.push(`| ${r.scenario} | ${r.metric} | ${fmt(r.old)} | ${fmt(r.new)} | ${r.ratio.toFixed(3)} | ${r.perCpuRatio.toFixed(3)} | ${r.interval.map((x) => x.toFixed(3)).join('–')} | ${spread} | ${r.cpu} | ${r.latency} | ${met} | ${r.notes.join('; ')} |`)
  }
  return lines.join('\n')
}

export async function abMain(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      against: { type: 'string' },
      new: { type: 'string' },
      rounds: { type: 'string', default: '10' },
      out: { type: 'string' },
      'min-ratio': { type: 'string', default: '0.97' },
      check: { type: 'boolean', default: false },
      'quiet-wait': { type: 'string', default: '60' },
      retries: { type: 'string', default: '3' },
      measure: { type: 'string' },
      'node-arg': { type: 'string', multiple: true },
      profile: { type: 'boolean', default: false }
    }
  })
  if (!flags.against) throw new Error('--against REV names the old tree (--new REV, the new one, defaults to the work tree)')
  const rounds = Number(flags.rounds)
  const minRatio = Number(flags['min-ratio'])
  const quietWait = Number(flags['quiet-wait'])
  const retries = Number(flags.retries)
  if (!(rounds >= 1) || !(minRatio > 0) || !(quietWait >= 0) || !(retries >= 0)) throw new Error('--rounds takes a whole number ≥ 1, --min-ratio a positive number, --quiet-wait and --retries a number ≥ 0')
  const names = positionals.length ? positionals.map((p) => {
    const name = ALIASES[p]
    if (!name) throw new Error(`unknown scenario "${p}": one of ${Object.keys(ALIASES).join(', ')}`)
    return name
  }) : DEFAULT_SCENARIOS
  const timing = { ...TIMING.full, ...(flags.measure ? { measureS: Number(flags.measure) } : {}) }
  const specs = saturationSpecs(timing)
  const nodeArgs = flags['node-arg'] ?? []

  await benchLock()
  const started = Date.now()
  const before = conditions()
  const trees: [Tree, Tree] = [revision('old', flags.against), flags.new ? revision('new', flags.new) : workTree()]
  const [oldTree, newTree] = trees
  log(`switchboard A/B: old ${oldTree.label} against new ${newTree.label}; ${names.join(', ')}; ${rounds} round(s); server on core ${SERVER_CORE}, load generator on core ${CLIENT_CORE}`)
  log(`machine: ${before.cpus} × ${before.model}, node ${before.node}, load average ${before.load}`)
  log(`Switchboard env: ${Object.entries(SWITCHBOARD_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  const notes: string[] = []
  // Both run on this tree's node_modules: a change of dependencies is not measured.
  const lockChanged = spawnSync('git', ['diff', '--quiet', oldTree.commit, ...(flags.new ? [newTree.commit] : []), '--', 'package-lock.json'], { cwd: root }).status !== 0
  if (lockChanged) notes.push('package-lock.json differs between the trees; both ran on this tree\'s node_modules')
  notes.forEach((n) => log(`note: ${n}`))

  let loadgenBuild: Build | undefined
  const rows: AbRow[] = []
  try {
    for (const tree of trees) {
      log(`building ${tree.role}: ${tree.label}`)
      try {
        tree.build = buildTree(tree.exported ?? root)
      } catch (err) {
        const hint = tree.exported ? '' : '\n(the work tree does not compile now: try again later, or compare two revisions with --new REV)'
        throw new Error(`${(err as Error).message}${hint}`, { cause: err })
      }
    }
    loadgenBuild = buildLoadgen()
    for (const name of names) {
      const spec = specs[name]
      log(`\n${spec.scenario}`)
      const waits = { waitedS: 0, notQuiet: 0, rerun: 0 }
      const side = (tree: Tree) => ({
        name: tree.role,
        run: async () => {
          for (let attempt = 0; ; attempt++) {
            if (quietWait > 0) {
              const wait = await waitForQuiet(quietWait)
              waits.waitedS += wait.waitedS
              if (!wait.quiet) waits.notQuiet++
            }
            const r = await once<RateResult>(tree.build!, 'switchboard', spec.sbJob, { loadgen: loadgenBuild!, nodeArgs, ...(flags.profile ? { profile: `switchboard-${tree.role}` } : {}) })
            if (!disturbed(r) || attempt >= retries) return r
            waits.rerun++
            log(`  ${spec.id} ${tree.role} ${describeRate(r)}  others ${fmt(othersPct(r))} %: run again`)
          }
        }
      })
      const [oldRuns, newRuns] = await alternate(spec.id, side(oldTree), side(newTree), describeRate, rounds)
      const { a: o, b: n, ...c } = compareRuns({ name: 'old', runs: oldRuns }, { name: 'new', runs: newRuns })
      const row: AbRow = {
        id: spec.id, scenario: spec.scenario, metric: spec.unit, old: Math.round(o.rate), new: Math.round(n.rate), ...c,
        roundRatios: newRuns.map((r, i) => r.rate / oldRuns[i]!.rate),
        interval: bootstrapRatio(o.kept.map((r) => r.rate), n.kept.map((r) => r.rate)),
        met: c.ratio >= minRatio,
        runs: { old: oldRuns.map(raw), new: newRuns.map(raw) }
      }
      if (waits.rerun) row.notes.push(`${waits.rerun} disturbed run(s) run again`)
      if (waits.notQuiet) row.notes.push(`${waits.notQuiet} run(s) started on a busy machine after waiting ${quietWait} s`)
      if (waits.waitedS >= 1) row.notes.push(`waited ${waits.waitedS.toFixed(0)} s in all for quiet cores`)
      rows.push(row)
      log(`  ${spec.id}: new/old ${row.ratio.toFixed(3)} (90 % interval ${row.interval.map((x) => x.toFixed(3)).join('–')}; per CPU-s ${row.perCpuRatio.toFixed(3)}); rounds ${row.roundRatios.map((x) => x.toFixed(3)).join(' ')}`)
    }
  } finally {
    for (const tree of trees) {
      if (tree.build) removeBuild(tree.build)
      if (tree.exported) rmSync(tree.exported, { recursive: true, force: true })
    }
    if (loadgenBuild) removeBuild(loadgenBuild)
  }

  const after = conditions()
  const minutes = (Date.now() - started) / 60_000
  const text = table(rows, trees, minRatio)
  log(`\n${text}\n`)
  log(`${minutes.toFixed(1)} min; load average before ${before.load}, after ${after.load}`)
  const date = new Date().toISOString()
  const result = {
    date,
    command: `npm run bench -- ${argv.join(' ')}`,
    old: { label: oldTree.label, commit: oldTree.commit },
    new: { label: newTree.label, commit: newTree.commit, workTree: !flags.new },
    rounds,
    minRatio,
    quietWaitS: quietWait,
    timing,
    nodeArgs,
    retries,
    machine: { cpus: before.cpus, model: before.model, node: before.node },
    load: { before: before.load, after: after.load },
    minutes,
    switchboardEnv: SWITCHBOARD_ENV,
    notes,
    rows,
    table: text
  }
  const newName = flags.new ? newTree.commit.slice(0, 7) : 'worktree'
  writeResult(flags.out ?? join(root, 'ops/bench/results', `ab-${oldTree.commit.slice(0, 7)}-${newName}-${date.replace(/[:.]/g, '-')}.json`), result)
  const below = rows.filter((r) => !r.met)
  if (below.length) log(`new/old below ${minRatio}: ${below.map((r) => `${r.id} ${r.ratio.toFixed(3)}`).join(', ')}`)
  if (flags.check && below.length) process.exit(1)
}
