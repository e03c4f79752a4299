/**
 * Runs one attack against a fresh Holdfast or etcd and prints its figures
 * with the server's peak RSS (VmHWM, reset through clear_refs just before
 * the attack: needs root). Until the suite's runner (run.ts) exists, this
 * is how the HTTP attacks' figures are measured:
 *
 *   node test/dist/src/adversarial/measure-peak-rss.js <attack-name> <short|long> <holdfast|etcd>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { removeDirectory, startEtcd, startHoldfast } from '../support.js';
import type { Attack } from './attack.js';
import { attacks as http2Attacks } from './attacks/http2.js';
import { attacks as http1Attacks } from './attacks/http1.js';

const [name, scale = 'short', kind = 'holdfast'] = process.argv.slice(2);
const attack = [...http2Attacks, ...http1Attacks].find((candidate: Attack) => candidate.name === name);
if (attack === undefined || (scale !== 'short' && scale !== 'long') || (kind !== 'holdfast' && kind !== 'etcd')) {
  console.error(`usage: measure-peak-rss <${[...http2Attacks, ...http1Attacks].map((a) => a.name).join('|')}> <short|long> <holdfast|etcd>`);
  process.exit(2);
}
const memoryKiB = (pid: number, field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const server = kind === 'holdfast' ? await startHoldfast() : await startEtcd();
try {
  const pid = server.process.pid!;
  const [host, port] = server.endpoint.split(':') as [string, string];
  await new Promise((resolve) => setTimeout(resolve, 500));
  const rssBeforeKiB = memoryKiB(pid, 'VmRSS');
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const figures = await attack.run({ kind, host, port: Number(port), endpoint: server.endpoint, pid, dataDir: server.dataDir, maxRequestBytes: 1_572_864 }, scale);
  const peakKiB = memoryKiB(pid, 'VmHWM');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  console.log(JSON.stringify({ attack: name, scale, kind, rssBeforeMiB: Math.round(rssBeforeKiB / 1024), peakRssMiB: Math.round(peakKiB / 1024), rssAfter2sMiB: Math.round(memoryKiB(pid, 'VmRSS') / 1024), ...figures }));
} finally {
  await server.stop();
  removeDirectory(server.dataDir);
}
