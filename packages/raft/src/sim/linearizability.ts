/**
 * A linearizability checker for a key-value store, in the style of Wing &
 * Gong with Lowe's memoisation (as in Porcupine): a depth-first search over
 * the order in which operations take effect, pruning states (set of
 * linearized operations + model state) already explored.
 *
 * The KV model is partitioned per key (a history is linearizable iff each
 * key's sub-history is, since keys are independent registers), which keeps
 * each search small.
 *
 * Operations that failed or timed out may or may not have taken effect: their
 * return time is +Infinity, so they may be linearized at any point after
 * their invocation — including after everything else, i.e. effectively never.
 * Reads that failed are simply omitted by the caller (they have no effect).
 */

export interface KvOperation {
  readonly key: string;
  readonly kind: 'put' | 'get';
  /** put: the value written (unique per put). get: the value observed ('' = absent). */
  readonly value: string;
  /** Logical invocation time. */
  readonly call: number;
  /** Logical response time; Infinity when the outcome is unknown. */
  readonly ret: number;
}

export type CheckOutcome =
  | { readonly result: 'ok' }
  | { readonly result: 'violation'; readonly key: string; readonly detail: string }
  | { readonly result: 'unchecked'; readonly key: string; readonly detail: string };

interface Node {
  op: number; // index into ops
  isCall: boolean;
  match: Node | undefined; // call -> its return node
  prev: Node | undefined;
  next: Node | undefined;
}

/** Checks a whole KV history, key by key, each key bounded to `maxStepsPerKey` search steps. */
export function checkKvHistory(ops: readonly KvOperation[], maxStepsPerKey: number): CheckOutcome {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of ops) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  let unchecked: CheckOutcome | undefined;
  for (const key of [...byKey.keys()].sort()) {
    const outcome = checkRegister(key, byKey.get(key)!, maxStepsPerKey);
    if (outcome.result === 'violation') return outcome;
    if (outcome.result === 'unchecked' && unchecked === undefined) unchecked = outcome;
  }
  return unchecked ?? { result: 'ok' };
}

/** Single-register check: puts set the value, gets must observe the current value. */
export function checkRegister(key: string, ops: readonly KvOperation[], maxSteps: number): CheckOutcome {
  if (ops.length === 0) return { result: 'ok' };
  // Build the event list: calls and returns ordered by time; a call at the
  // same time as a return sorts first (the sim never produces ties anyway).
  const events: { time: number; isCall: boolean; op: number }[] = [];
  ops.forEach((op, i) => {
    events.push({ time: op.call, isCall: true, op: i });
    events.push({ time: op.ret, isCall: false, op: i });
  });
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: Node = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  let tail = head;
  const callNodes = new Map<number, Node>();
  const returnNodes = new Map<number, Node>();
  for (const ev of events) {
    const node: Node = { op: ev.op, isCall: ev.isCall, match: undefined, prev: tail, next: undefined };
    tail.next = node;
    tail = node;
    (ev.isCall ? callNodes : returnNodes).set(ev.op, node);
  }
  for (const [op, call] of callNodes) call.match = returnNodes.get(op);

  const lift = (call: Node): void => {
    call.prev!.next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match!;
    ret.prev!.next = ret.next;
    if (ret.next) ret.next.prev = ret.prev;
  };
  const unlift = (call: Node): void => {
    const ret = call.match!;
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
    call.prev!.next = call;
    if (call.next) call.next.prev = call;
  };

  // linearized set as a bitset over op indexes, encoded in a string key with the state.
  const words = Math.ceil(ops.length / 32);
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const cacheKey = (state: string): string => `${linearized.join(',')}|${state}`;
  const stack: { call: Node; state: string }[] = [];
  let state = '';
  let entry = head.next;
  let steps = 0;
  let longest = 0;

  while (head.next !== undefined) {
    if (++steps > maxSteps) {
      return { result: 'unchecked', key, detail: `search exceeded ${maxSteps} steps over ${ops.length} operations` };
    }
    if (entry === undefined) {
      return { result: 'violation', key, detail: 'internal: ran off the event list' };
    }
    if (entry.isCall) {
      const op = ops[entry.op]!;
      let ok: boolean;
      let nextState: string;
      if (op.kind === 'put') {
        ok = true;
        nextState = op.value;
      } else {
        ok = op.value === state;
        nextState = state;
      }
      if (ok) {
        const w = entry.op >>> 5;
        const bit = 1 << (entry.op & 31);
        linearized[w] = linearized[w]! | bit;
        const k = cacheKey(nextState);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ call: entry, state });
          state = nextState;
          lift(entry);
          longest = Math.max(longest, stack.length);
          entry = head.next;
          continue;
        }
        linearized[w] = linearized[w]! & ~bit;
      }
      entry = entry.next;
    } else {
      // A return whose call is not yet linearized: backtrack.
      const top = stack.pop();
      if (top === undefined) {
        return {
          result: 'violation',
          key,
          detail: `no linearization; longest linearizable prefix has ${longest} of ${ops.length} operations; ${describe(ops)}`,
        };
      }
      state = top.state;
      const w = top.call.op >>> 5;
      linearized[w] = linearized[w]! & ~(1 << (top.call.op & 31));
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return { result: 'ok' };
}

function describe(ops: readonly KvOperation[]): string {
  const shown = ops
    .slice()
    .sort((a, b) => a.call - b.call)
    .slice(0, 12)
    .map((o) => `${o.kind}(${o.value || '∅'})@[${o.call},${o.ret === Infinity ? '∞' : o.ret}]`);
  return shown.join(' ') + (ops.length > 12 ? ' …' : '');
}
