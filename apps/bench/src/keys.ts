/**
 * Keys and values. A key is the prefix plus the key number as zero-padded
 * decimal, `keySizeBytes` wide ("00000042"), so that keys are readable with
 * etcdctl and a workload's keys sort in number order.
 */
import { randomBytes } from 'node:crypto';

export class KeyMaker {
  private readonly prefix: Buffer;
  constructor(
    prefix: string,
    private readonly keySizeBytes: number,
  ) {
    this.prefix = Buffer.from(prefix);
  }

  key(keyNumber: number): Buffer {
    const digits = String(keyNumber);
    // Keys longer than the number need zero padding; validation made the
    // key space fit, so digits never exceed the width.
    const body = digits.length >= this.keySizeBytes ? digits : '0'.repeat(this.keySizeBytes - digits.length) + digits;
    return this.prefix.length === 0 ? Buffer.from(body, 'latin1') : Buffer.concat([this.prefix, Buffer.from(body, 'latin1')]);
  }
}

/** The key number of operation `opIndex`: sequential or uniformly random in [0, keySpace). */
export function keyNumberFor(opIndex: number, keySpace: number, sequential: boolean): number {
  return sequential ? opIndex % keySpace : Math.floor(Math.random() * keySpace);
}

/** Random (incompressible) bytes, made once per run and shared by every request. */
export function randomValue(valueSizeBytes: number): Buffer {
  return randomBytes(valueSizeBytes);
}
