/** Child processes for the tests: a registered instance that the test kills. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const childScript = fileURLToPath(new URL('./fixtures/registered-child.js', import.meta.url));

/** Children still running when this process exits (a crashed test never reaches its finally) are killed. */
const living = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of living) child.kill('SIGKILL');
});

export interface RegisteredChild {
  readonly process: ChildProcess;
  readonly leaseId: bigint;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Output so far, for failure messages. */
  output(): string;
}

/** Starts registered-child.js and waits for its "ready" line. Always kill it (SIGKILL is fine). */
export async function startRegisteredChild(endpoint: string, service: string, address: string, ttlSeconds: number, handleSignals: boolean): Promise<RegisteredChild> {
  const args = [childScript, endpoint, service, address, String(ttlSeconds), ...(handleSignals ? ['--handle-signals'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  living.add(child);
  child.once('exit', () => living.delete(child));
  let text = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const leaseId = await new Promise<bigint>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child did not register within 15 s:\n${text}`)), 15_000);
    child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n').find((candidate) => candidate.startsWith('{"ready"'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve(BigInt(`0x${(JSON.parse(line) as { leaseId: string }).leaseId}`));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the child exited (${code ?? signal}) before registering:\n${text}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return { process: child, leaseId, exited, output: () => text };
}
