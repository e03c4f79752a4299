/**
 * etcd 3.4's checkTxnRequest, which validateTxn mirrors: a nested txn may
 * only use what its parents left of --max-txn-ops. The comparison with a
 * real etcd is in the adversarial suite's semantics attack
 * (test/src/adversarial/attacks/semantics.ts); these are the rule's edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdserverpb } from '@holdfast/proto';
import { validateTxn } from '../src/apply/validate.js';
import { TooManyOpsError } from '../src/errors.js';

const put = (key: string): etcdserverpb.RequestOp => ({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from('v') }) });
const puts = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => put(`${prefix}${i}`));
const txn = (success: etcdserverpb.RequestOp[]): etcdserverpb.TxnRequest => etcdserverpb.TxnRequest.fromPartial({ success });

test('a nested txn gets the budget its parent left: 100 ops leave 28', () => {
  assert.doesNotThrow(() => validateTxn(txn([...puts('outer/', 99), { requestTxn: txn(puts('inner/', 28)) }]), 128));
  assert.throws(() => validateTxn(txn([...puts('outer/', 99), { requestTxn: txn(puts('inner/', 29)) }]), 128), TooManyOpsError);
});

test('one op per level: 129 levels fit in 128, 130 do not', () => {
  const nested = (levels: number): etcdserverpb.TxnRequest => {
    let inner = txn([]);
    for (let level = 1; level < levels; level++) inner = txn([{ requestTxn: inner }]);
    return inner;
  };
  assert.doesNotThrow(() => validateTxn(nested(129), 128));
  assert.throws(() => validateTxn(nested(130), 128), TooManyOpsError);
});
