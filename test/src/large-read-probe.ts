/**
 * The probe of the large-read tests as its own process:
 *   node large-read-probe.js <host> <port> <intervalMs>
 * probes (large-read.ts probeOnce) every intervalMs and prints each result
 * as a JSON line, until its stdin closes; then finishes the probe under way
 * and exits.
 */
import { probeOnce } from './large-read.js';

const [host, port, intervalMs] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4] ?? 250)];
let stopped = false;
process.stdin.on('end', () => (stopped = true));
process.stdin.resume();
while (!stopped) {
  process.stdout.write(`${JSON.stringify(await probeOnce(host, port))}\n`);
  await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
process.stdin.pause();
