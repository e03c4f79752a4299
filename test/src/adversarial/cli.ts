#!/usr/bin/env node
/**
 * npm run adversarial -- [--long] [--target holdfast|etcd|both] [--only a,b] [--report FILE]
 *
 * Runs the adversarial suite (see run.ts) and prints one line per attack
 * as it goes, then a Markdown table. --long runs every attack at the
 * issue's full size (minutes to tens of minutes each, gigabytes of disk).
 * Exits 1 if Holdfast failed any check.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { etcdAvailability } from '../support.js';
import { attacks } from './attacks/index.js';
import { formatReport, runSuite } from './run.js';
import type { AttackTarget } from './attack.js';

const { values } = parseArgs({
  options: {
    long: { type: 'boolean', default: false },
    target: { type: 'string', default: 'both' },
    only: { type: 'string' },
    report: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  console.log('usage: npm run adversarial -- [--long] [--target holdfast|etcd|both] [--only name,name] [--report FILE]');
  console.log(`attacks: ${attacks.map((attack) => attack.name).join(', ')}`);
  process.exit(0);
}
const kinds: Array<AttackTarget['kind']> =
  values.target === 'both' ? ['holdfast', 'etcd'] : values.target === 'holdfast' || values.target === 'etcd' ? [values.target] : fail(`--target must be holdfast, etcd or both, not ${values.target}`);
if (kinds.includes('etcd')) {
  const etcd = await etcdAvailability();
  if (!etcd.available) fail(`--target ${values.target} needs etcd: ${etcd.reason}`);
}
const wanted = values.only?.split(',').map((name) => name.trim()) ?? [];
const unknown = wanted.filter((name) => !attacks.some((attack) => attack.name === name));
if (unknown.length > 0) fail(`unknown attack ${unknown.join(', ')}; the attacks are ${attacks.map((attack) => attack.name).join(', ')}`);
const chosen = wanted.length === 0 ? attacks : attacks.filter((attack) => wanted.includes(attack.name));
const scale = values.long ? 'long' : 'short';
console.log(`adversarial suite: ${chosen.length} attacks, ${scale} scale, against ${kinds.join(' and ')}`);
const results = await runSuite({ kinds, attacks: chosen, scale, log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`) });
const report = formatReport(results);
console.log(`\n${report}`);
if (values.report !== undefined) writeFileSync(values.report, `${report}\n`);
const failed = results.filter((result) => result.target === 'holdfast' && result.problems.length > 0);
process.exit(failed.length > 0 ? 1 : 0);

function fail(message: string): never {
  console.error(`adversarial: ${message}`);
  process.exit(2);
}
