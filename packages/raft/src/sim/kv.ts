/**
 * The simulation's replicated state machine: a string KV map. Commands carry
 * a unique request id and the machine applies each id at most once, because
 * Raft itself may append a proposal twice (a duplicated or retried forward).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface PutCommand {
  readonly requestId: number;
  readonly key: string;
  readonly value: string;
}

export function encodePut(cmd: PutCommand): Uint8Array {
  return encoder.encode(`${cmd.requestId}\u0000${cmd.key}\u0000${cmd.value}`);
}

export function decodePut(data: Uint8Array): PutCommand | undefined {
  if (data.byteLength === 0) return undefined; // leader no-op
  const [id, key, value] = decoder.decode(data).split('\u0000');
  if (id === undefined || key === undefined || value === undefined) throw new Error('malformed put');
  return { requestId: Number(id), key, value };
}

export class KvStateMachine {
  private readonly data = new Map<string, string>();
  private readonly appliedRequests = new Set<number>();

  /** Returns true if the command took effect (first time its id was seen). */
  apply(cmd: PutCommand): boolean {
    if (this.appliedRequests.has(cmd.requestId)) return false;
    this.appliedRequests.add(cmd.requestId);
    this.data.set(cmd.key, cmd.value);
    return true;
  }

  get(key: string): string {
    return this.data.get(key) ?? '';
  }

  serialize(): Uint8Array {
    const keys = [...this.data.keys()].sort();
    return encoder.encode(
      JSON.stringify({ kv: keys.map((k) => [k, this.data.get(k)]), ids: [...this.appliedRequests].sort((a, b) => a - b) }),
    );
  }

  static deserialize(bytes: Uint8Array): KvStateMachine {
    const sm = new KvStateMachine();
    if (bytes.byteLength === 0) return sm;
    const parsed = JSON.parse(decoder.decode(bytes)) as { kv: [string, string][]; ids: number[] };
    for (const [k, v] of parsed.kv) sm.data.set(k, v);
    for (const id of parsed.ids) sm.appliedRequests.add(id);
    return sm;
  }
}
