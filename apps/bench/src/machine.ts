/**
 * A description of the machine a comparison ran on: cores, CPU model,
 * memory, the disk holding the data directories, kernel and Node versions.
 */
import { execFile } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { basename } from 'node:path';

export interface MachineDescription {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly nodeVersion: string;
  /** e.g. "/dev/vda (ext4, 252G, virtio, not rotational) mounted on /". */
  readonly disk: string;
}

function run(command: string, args: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => execFile(command, args, { timeout: 10_000 }, (error, stdout) => resolve(error === null ? stdout : undefined)));
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1').trim();
  } catch {
    return undefined;
  }
}

/** The block device's sysfs facts: model and whether it spins. Partitions report their parent disk. */
function blockDeviceFacts(device: string): string[] {
  let name = basename(device);
  try {
    // /sys/class/block/<partition> links into its parent disk's directory.
    const resolved = realpathSync(`/sys/class/block/${name}`);
    if (readTrimmed(`${resolved}/partition`) !== undefined) name = basename(resolved.slice(0, resolved.lastIndexOf('/')));
  } catch {
    return [];
  }
  const facts: string[] = [];
  const model = readTrimmed(`/sys/class/block/${name}/device/model`);
  if (model !== undefined && model !== '') facts.push(model);
  else if (name.startsWith('vd')) facts.push('virtio disk');
  const rotational = readTrimmed(`/sys/class/block/${name}/queue/rotational`);
  if (rotational !== undefined) facts.push(rotational === '1' ? 'rotational' : 'not rotational');
  return facts;
}

export async function describeDisk(path: string): Promise<string> {
  const df = await run('df', ['-PT', path]);
  const line = df?.trim().split('\n')[1];
  if (line === undefined) return 'unknown';
  const [device, fsType, sizeKilobytes, , , , mountPoint] = line.split(/\s+/);
  const sizeGiB = Number(sizeKilobytes) / 1024 / 1024;
  const facts = [fsType ?? '?', `${sizeGiB.toFixed(0)} GiB`, ...(device?.startsWith('/dev/') ? blockDeviceFacts(device) : [])];
  return `${device ?? '?'} (${facts.join(', ')}) mounted on ${mountPoint ?? '?'}`;
}

export async function describeMachine(dataPath: string): Promise<MachineDescription> {
  const cpuList = cpus();
  return {
    cores: availableParallelism(),
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: `Linux ${release()}`,
    nodeVersion: process.version,
    disk: await describeDisk(dataPath),
  };
}
