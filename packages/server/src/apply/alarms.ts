/**
 * Active alarms (NOSPACE, CORRUPT), per member, persisted in the backend's
 * `alarm` table so they survive restarts, as etcd's alarm store does.
 */
import { etcdserverpb } from '@holdfast/proto';
import type { Backend } from '@holdfast/storage';

export interface Alarm {
  readonly memberId: bigint;
  readonly alarm: etcdserverpb.AlarmType;
}

export class AlarmStore {
  private readonly backend: Backend;
  private readonly active = new Map<string, Alarm>();

  constructor(backend: Backend) {
    this.backend = backend;
    for (const { key } of backend.table('alarm').range()) {
      const alarm = { memberId: key.readBigUInt64BE(0), alarm: key.readUInt32BE(8) as etcdserverpb.AlarmType };
      this.active.set(alarmKey(alarm), alarm);
    }
  }

  list(type: etcdserverpb.AlarmType = etcdserverpb.AlarmType.NONE): Alarm[] {
    return [...this.active.values()].filter((alarm) => type === etcdserverpb.AlarmType.NONE || alarm.alarm === type);
  }

  has(type: etcdserverpb.AlarmType): boolean {
    return this.list(type).length > 0;
  }

  /** Must run inside backend.write(). Returns the alarm if newly activated. */
  activate(alarm: Alarm): Alarm | undefined {
    const key = alarmKey(alarm);
    if (this.active.has(key)) return undefined;
    this.backend.table('alarm').put(encodeAlarm(alarm), Buffer.alloc(0));
    this.active.set(key, alarm);
    return alarm;
  }

  /** Must run inside backend.write(). Returns the alarm if it was active. */
  deactivate(alarm: Alarm): Alarm | undefined {
    const key = alarmKey(alarm);
    const existing = this.active.get(key);
    if (existing === undefined) return undefined;
    this.backend.table('alarm').delete(encodeAlarm(alarm));
    this.active.delete(key);
    return existing;
  }
}

/** How etcd prints an AlarmMember in Status errors (gogoproto text format). */
export function formatAlarm(alarm: Alarm): string {
  return `memberID:${BigInt.asUintN(64, alarm.memberId)} alarm:${etcdserverpb.alarmTypeToJSON(alarm.alarm)} `;
}

function alarmKey(alarm: Alarm): string {
  return `${alarm.memberId}:${alarm.alarm}`;
}

function encodeAlarm(alarm: Alarm): Buffer {
  const key = Buffer.alloc(12);
  key.writeBigUInt64BE(BigInt.asUintN(64, alarm.memberId), 0);
  key.writeUInt32BE(alarm.alarm, 8);
  return key;
}
