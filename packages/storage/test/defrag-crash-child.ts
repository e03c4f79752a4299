/**
 * Child process of backend-defrag.test.ts: fills a backend, makes it
 * fragmented, then defragments it and kills itself (SIGKILL, no cleanup)
 * when defragment() reaches the step named on the command line.
 *
 * Usage: node defrag-crash-child.js <directory> <records> <step>
 */
import { Backend, type DefragmentStep } from '../src/index.js';
import { fillFragmented } from './defrag-fixtures.js';

const [directory, records, crashStep] = process.argv.slice(2);
if (directory === undefined || records === undefined || crashStep === undefined) {
  process.stderr.write('usage: defrag-crash-child <directory> <records> <step>\n');
  process.exit(2);
}
const backend = Backend.open({
  directory,
  onDefragmentStep: (step: DefragmentStep) => {
    if (step === crashStep) process.kill(process.pid, 'SIGKILL');
  },
});
await fillFragmented(backend, Number(records));
await backend.defragment();
await backend.close();
// Only reached when the step named is never passed.
process.exit(3);
