/**
 * etcdctl's output formats (etcdctl/ctlv3/command/printer*.go): simple,
 * json (Go's encoding/json of the response structs, 64-bit numbers exact),
 * fields, protobuf (the wire bytes) and table (for the commands that have
 * one). Each printer takes the responses in their wire shape
 * (@holdfast/proto types), which is also what etcdctl prints from.
 */
import { etcdserverpb, mvccpb } from '@holdfast/proto';
import { CliExit, ExitCode } from '../cli/exit.js';
import { out, outLine, errLine } from '../cli/io.js';
import { goQuote, goStringSlice, hex16, hexPlain, hexSpace16, humanizeBytes } from './go.js';
import { jsonArray, jsonBool, jsonBytes, jsonInt, jsonObject, jsonPointer, jsonStr, jsonString, type Encoded } from './json.js';
import { renderTable } from './table.js';

type Header = etcdserverpb.ResponseHeader;
type KeyValue = mvccpb.KeyValue;

/** clientv3.WatchResponse: what etcdctl prints for each watch response. */
export interface WatchResponseView {
  readonly header: Header;
  readonly events: readonly mvccpb.Event[];
  readonly compactRevision: bigint;
  readonly canceled: boolean;
  readonly created: boolean;
}

/** clientv3.LeaseTimeToLiveResponse (keys nil when the server sent none). */
export interface TimeToLiveView {
  readonly header: Header | undefined;
  readonly id: bigint;
  readonly ttl: bigint;
  readonly grantedTtl: bigint;
  readonly keys: readonly Buffer[] | undefined;
}

export interface EndpointHealth {
  readonly endpoint: string;
  readonly health: boolean;
  readonly took: string;
  readonly error: string;
}

export interface EndpointStatus {
  readonly endpoint: string;
  readonly response: etcdserverpb.StatusResponse;
}

export interface EndpointHashKv {
  readonly endpoint: string;
  readonly response: etcdserverpb.HashKVResponse;
}

/** What every output format implements (etcdctl's printer interface, the parts hfctl uses). */
export interface Printer {
  readonly format: OutputFormat;
  del(response: etcdserverpb.DeleteRangeResponse): void;
  get(response: etcdserverpb.RangeResponse): void;
  put(response: etcdserverpb.PutResponse): void;
  txn(response: etcdserverpb.TxnResponse): void;
  watch(response: WatchResponseView): void;
  grant(response: etcdserverpb.LeaseGrantResponse): void;
  revoke(id: bigint, response: etcdserverpb.LeaseRevokeResponse): void;
  keepAlive(response: etcdserverpb.LeaseKeepAliveResponse): void;
  timeToLive(response: TimeToLiveView, keys: boolean): void;
  leases(response: etcdserverpb.LeaseLeasesResponse): void;
  memberAdd(response: etcdserverpb.MemberAddResponse): void;
  memberRemove(id: bigint, response: etcdserverpb.MemberRemoveResponse): void;
  memberUpdate(id: bigint, response: etcdserverpb.MemberUpdateResponse): void;
  memberPromote(id: bigint, response: etcdserverpb.MemberPromoteResponse): void;
  memberList(response: etcdserverpb.MemberListResponse): void;
  endpointHealth(list: readonly EndpointHealth[]): void;
  endpointStatus(list: readonly EndpointStatus[]): void;
  endpointHashKv(list: readonly EndpointHashKv[]): void;
  alarm(response: etcdserverpb.AlarmResponse): void;
}

export type OutputFormat = 'simple' | 'json' | 'fields' | 'protobuf' | 'table';

/** etcdctl's NewPrinter; undefined for an unknown format. */
export function newPrinter(format: string, hex: boolean): Printer | undefined {
  switch (format) {
    case 'simple':
      return new SimplePrinter(hex);
    case 'json':
      return new JsonPrinter();
    case 'fields':
      return new FieldsPrinter();
    case 'protobuf':
      return new ProtobufPrinter();
    case 'table':
      return new TablePrinter();
    default:
      return undefined;
  }
}

function unsupported(format: string): never {
  throw new CliExit(ExitCode.badFeature, `${format} not supported as output format`);
}

const zeroHeader: Header = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };

function eventTypeName(type: mvccpb.Event_EventType): string {
  return type === mvccpb.Event_EventType.DELETE ? 'DELETE' : type === mvccpb.Event_EventType.PUT ? 'PUT' : String(type);
}

function alarmTypeName(type: etcdserverpb.AlarmType): string {
  switch (type) {
    case etcdserverpb.AlarmType.NONE:
      return 'NONE';
    case etcdserverpb.AlarmType.NOSPACE:
      return 'NOSPACE';
    case etcdserverpb.AlarmType.CORRUPT:
      return 'CORRUPT';
    default:
      return String(type);
  }
}

// Tables shared by simple and table (makeMemberListTable and friends).

function memberListTable(response: etcdserverpb.MemberListResponse): { header: string[]; rows: string[][] } {
  return {
    header: ['ID', 'Status', 'Name', 'Peer Addrs', 'Client Addrs', 'Is Learner'],
    rows: response.members.map((member) => [
      hexPlain(member.ID),
      member.name.length === 0 ? 'unstarted' : 'started',
      member.name,
      member.peerURLs.join(','),
      member.clientURLs.join(','),
      String(member.isLearner),
    ]),
  };
}

function endpointHealthTable(list: readonly EndpointHealth[]): { header: string[]; rows: string[][] } {
  return { header: ['endpoint', 'health', 'took', 'error'], rows: list.map((h) => [h.endpoint, String(h.health), h.took, h.error]) };
}

function endpointStatusTable(list: readonly EndpointStatus[]): { header: string[]; rows: string[][] } {
  return {
    header: ['endpoint', 'ID', 'version', 'db size', 'is leader', 'is learner', 'raft term', 'raft index', 'raft applied index', 'errors'],
    rows: list.map(({ endpoint, response }) => {
      const memberId = response.header?.memberId ?? 0n;
      return [
        endpoint,
        hexPlain(memberId),
        response.version,
        humanizeBytes(BigInt.asUintN(64, response.dbSize)),
        String(response.leader === memberId),
        String(response.isLearner),
        response.raftTerm.toString(),
        response.raftIndex.toString(),
        response.raftAppliedIndex.toString(),
        response.errors.join(', '),
      ];
    }),
  };
}

function endpointHashKvTable(list: readonly EndpointHashKv[]): { header: string[]; rows: string[][] } {
  return { header: ['endpoint', 'hash'], rows: list.map(({ endpoint, response }) => [endpoint, String(response.hash)]) };
}

/** A header in gogoproto's compact text form (its String()), as %v prints it. */
function headerText(header: Header): string {
  const parts: string[] = [];
  if (header.clusterId !== 0n) parts.push(`cluster_id:${header.clusterId}`);
  if (header.memberId !== 0n) parts.push(`member_id:${header.memberId}`);
  if (header.revision !== 0n) parts.push(`revision:${header.revision}`);
  if (header.raftTerm !== 0n) parts.push(`raft_term:${header.raftTerm}`);
  return parts.map((part) => `${part} `).join('');
}

/** Go's Stringer output of a gogoproto message in compact text form, for AlarmMember (%+v). */
function alarmMemberText(alarm: etcdserverpb.AlarmMember): string {
  const parts: string[] = [];
  if (alarm.memberID !== 0n) parts.push(`memberID:${alarm.memberID}`);
  if (alarm.alarm !== etcdserverpb.AlarmType.NONE) parts.push(`alarm:${alarmTypeName(alarm.alarm)}`);
  return parts.map((part) => `${part} `).join('');
}

export class SimplePrinter implements Printer {
  readonly format = 'simple' as const;
  /** --print-value-only. */
  valueOnly = false;

  constructor(private readonly hex: boolean) {}

  /** printKV: the key (unless value only) and the value, each on its own line. */
  private kv(kv: KeyValue): void {
    const key = this.hex ? hexEscaped(kv.key) : kv.key;
    const value = this.hex ? hexEscaped(kv.value) : kv.value;
    if (!this.valueOnly) outLine(key);
    outLine(value);
  }

  del(response: etcdserverpb.DeleteRangeResponse): void {
    outLine(response.deleted.toString());
    for (const kv of response.prevKvs) this.kv(kv);
  }

  get(response: etcdserverpb.RangeResponse): void {
    for (const kv of response.kvs) this.kv(kv);
  }

  put(response: etcdserverpb.PutResponse): void {
    outLine('OK');
    if (response.prevKv !== undefined) this.kv(response.prevKv);
  }

  txn(response: etcdserverpb.TxnResponse): void {
    outLine(response.succeeded ? 'SUCCESS' : 'FAILURE');
    for (const op of response.responses) {
      outLine('');
      if (op.responseDeleteRange !== undefined) this.del(op.responseDeleteRange);
      else if (op.responsePut !== undefined) this.put(op.responsePut);
      else if (op.responseRange !== undefined) this.get(op.responseRange);
      else outLine(`unexpected response ${JSON.stringify(op)}`);
    }
  }

  watch(response: WatchResponseView): void {
    for (const event of response.events) {
      outLine(eventTypeName(event.type));
      if (event.prevKv !== undefined) this.kv(event.prevKv);
      if (event.kv !== undefined) this.kv(event.kv);
    }
  }

  grant(response: etcdserverpb.LeaseGrantResponse): void {
    outLine(`lease ${hex16(response.ID)} granted with TTL(${response.TTL}s)`);
  }

  revoke(id: bigint): void {
    outLine(`lease ${hex16(id)} revoked`);
  }

  keepAlive(response: etcdserverpb.LeaseKeepAliveResponse): void {
    outLine(`lease ${hex16(response.ID)} keepalived with TTL(${response.TTL})`);
  }

  timeToLive(response: TimeToLiveView, keys: boolean): void {
    if (response.grantedTtl === 0n && response.ttl === -1n) {
      outLine(`lease ${hex16(response.id)} already expired`);
      return;
    }
    const parts: (string | Buffer)[] = [`lease ${hex16(response.id)} granted with TTL(${response.grantedTtl}s), remaining(${response.ttl}s)`];
    if (keys) {
      parts.push(', attached keys([');
      (response.keys ?? []).forEach((key, i) => parts.push(...(i > 0 ? [' ', key] : [key])));
      parts.push('])');
    }
    outLine(...parts);
  }

  leases(response: etcdserverpb.LeaseLeasesResponse): void {
    outLine(`found ${response.leases.length} leases`);
    for (const lease of response.leases) outLine(hex16(lease.ID));
  }

  memberAdd(response: etcdserverpb.MemberAddResponse): void {
    outLine(`Member ${hexSpace16(response.member?.ID ?? 0n)} added to cluster ${hexSpace16(response.header?.clusterId ?? 0n)}`);
  }

  memberRemove(id: bigint, response: etcdserverpb.MemberRemoveResponse): void {
    outLine(`Member ${hexSpace16(id)} removed from cluster ${hexSpace16(response.header?.clusterId ?? 0n)}`);
  }

  memberUpdate(id: bigint, response: etcdserverpb.MemberUpdateResponse): void {
    outLine(`Member ${hexSpace16(id)} updated in cluster ${hexSpace16(response.header?.clusterId ?? 0n)}`);
  }

  memberPromote(id: bigint, response: etcdserverpb.MemberPromoteResponse): void {
    outLine(`Member ${hexSpace16(id)} promoted in cluster ${hexSpace16(response.header?.clusterId ?? 0n)}`);
  }

  memberList(response: etcdserverpb.MemberListResponse): void {
    for (const row of memberListTable(response).rows) outLine(row.join(', '));
  }

  endpointHealth(list: readonly EndpointHealth[]): void {
    for (const h of list) {
      if (h.error === '') errLine(`${h.endpoint} is healthy: successfully committed proposal: took = ${h.took}`);
      else errLine(`${h.endpoint} is unhealthy: failed to commit proposal: ${h.error}`);
    }
  }

  endpointStatus(list: readonly EndpointStatus[]): void {
    for (const row of endpointStatusTable(list).rows) outLine(row.join(', '));
  }

  endpointHashKv(list: readonly EndpointHashKv[]): void {
    for (const row of endpointHashKvTable(list).rows) outLine(row.join(', '));
  }

  alarm(response: etcdserverpb.AlarmResponse): void {
    for (const alarm of response.alarms) outLine(alarmMemberText(alarm));
  }
}

/** addHexPrefix(hex.EncodeToString(b)): every byte as \xNN. */
function hexEscaped(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += `\\x${byte.toString(16).padStart(2, '0')}`;
  return text;
}

// JSON: the Go structs etcdctl marshals, field by field.

function jHeader(header: Header | undefined): Encoded {
  if (header === undefined) return undefined;
  return jsonObject(headerFields(header));
}

function headerFields(header: Header): [string, Encoded][] {
  return [
    ['cluster_id', jsonInt(header.clusterId)],
    ['member_id', jsonInt(header.memberId)],
    ['revision', jsonInt(header.revision)],
    ['raft_term', jsonInt(header.raftTerm)],
  ];
}

function jKv(kv: KeyValue | undefined): Encoded {
  if (kv === undefined) return undefined;
  return jsonObject([
    ['key', jsonBytes(kv.key)],
    ['create_revision', jsonInt(kv.createRevision)],
    ['mod_revision', jsonInt(kv.modRevision)],
    ['version', jsonInt(kv.version)],
    ['value', jsonBytes(kv.value)],
    ['lease', jsonInt(kv.lease)],
  ]);
}

function jRange(response: etcdserverpb.RangeResponse): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['kvs', jsonArray(response.kvs.map((kv) => jKv(kv)!))],
    ['more', jsonBool(response.more)],
    ['count', jsonInt(response.count)],
  ]);
}

function jPut(response: etcdserverpb.PutResponse): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['prev_kv', jKv(response.prevKv)],
  ]);
}

function jDelete(response: etcdserverpb.DeleteRangeResponse): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['deleted', jsonInt(response.deleted)],
    ['prev_kvs', jsonArray(response.prevKvs.map((kv) => jKv(kv)!))],
  ]);
}

function jTxn(response: etcdserverpb.TxnResponse): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['succeeded', jsonBool(response.succeeded)],
    ['responses', jsonArray(response.responses.map(jResponseOp))],
  ]);
}

/** A oneof marshals as {"Response":{"ResponseRange":{...}}}: the wrapper struct's fields have no json tags. */
function jResponseOp(op: etcdserverpb.ResponseOp): string {
  let inner: string;
  if (op.responseRange !== undefined) inner = jsonObject([['ResponseRange', jRange(op.responseRange)]]);
  else if (op.responsePut !== undefined) inner = jsonObject([['ResponsePut', jPut(op.responsePut)]]);
  else if (op.responseDeleteRange !== undefined) inner = jsonObject([['ResponseDeleteRange', jDelete(op.responseDeleteRange)]]);
  else if (op.responseTxn !== undefined) inner = jsonObject([['ResponseTxn', jTxn(op.responseTxn)]]);
  else return jsonObject([['Response', 'null']]);
  return jsonObject([['Response', inner]]);
}

function jEvent(event: mvccpb.Event): string {
  return jsonObject([
    ['type', jsonInt(event.type)],
    ['kv', jKv(event.kv)],
    ['prev_kv', jKv(event.prevKv)],
  ]);
}

function jMember(member: etcdserverpb.Member): string {
  return jsonObject([
    ['ID', jsonInt(member.ID)],
    ['name', jsonStr(member.name)],
    ['peerURLs', jsonArray(member.peerURLs.map((url) => jsonString(url)))],
    ['clientURLs', jsonArray(member.clientURLs.map((url) => jsonString(url)))],
    ['isLearner', jsonBool(member.isLearner)],
  ]);
}

function jMembers(response: { header?: Header | undefined; members: etcdserverpb.Member[] }): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['members', jsonArray(response.members.map(jMember))],
  ]);
}

function jStatus(response: etcdserverpb.StatusResponse): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['version', jsonStr(response.version)],
    ['dbSize', jsonInt(response.dbSize)],
    ['leader', jsonInt(response.leader)],
    ['raftIndex', jsonInt(response.raftIndex)],
    ['raftTerm', jsonInt(response.raftTerm)],
    ['raftAppliedIndex', jsonInt(response.raftAppliedIndex)],
    ['errors', jsonArray(response.errors.map((e) => jsonString(e)))],
    ['dbSizeInUse', jsonInt(response.dbSizeInUse)],
    ['isLearner', jsonBool(response.isLearner)],
  ]);
}

function jHashKv(response: etcdserverpb.HashKVResponse): string {
  return jsonObject([
    ['header', jHeader(response.header)],
    ['hash', jsonInt(response.hash)],
    ['compact_revision', jsonInt(response.compactRevision)],
  ]);
}

/** A clientv3 struct that embeds *pb.ResponseHeader: the header's fields come first, at top level. */
function embeddedHeader(header: Header | undefined): [string, Encoded][] {
  return header === undefined ? [] : headerFields(header);
}

export class JsonPrinter implements Printer {
  readonly format = 'json' as const;

  del(response: etcdserverpb.DeleteRangeResponse): void {
    outLine(jDelete(response));
  }
  get(response: etcdserverpb.RangeResponse): void {
    outLine(jRange(response));
  }
  put(response: etcdserverpb.PutResponse): void {
    outLine(jPut(response));
  }
  txn(response: etcdserverpb.TxnResponse): void {
    outLine(jTxn(response));
  }
  watch(response: WatchResponseView): void {
    outLine(
      jsonObject([
        ['Header', jsonObject(headerFields(response.header))],
        ['Events', jsonArray(response.events.map(jEvent), false)],
        ['CompactRevision', jsonInt(response.compactRevision, false)],
        ['Canceled', jsonBool(response.canceled, false)],
        ['Created', jsonBool(response.created, false)],
      ]),
    );
  }
  grant(response: etcdserverpb.LeaseGrantResponse): void {
    outLine(
      jsonObject([
        ...embeddedHeader(response.header),
        ['ID', jsonInt(response.ID, false)],
        ['TTL', jsonInt(response.TTL, false)],
        ['Error', jsonStr(response.error, false)],
      ]),
    );
  }
  revoke(_id: bigint, response: etcdserverpb.LeaseRevokeResponse): void {
    outLine(jsonObject([['header', jHeader(response.header)]]));
  }
  keepAlive(response: etcdserverpb.LeaseKeepAliveResponse): void {
    outLine(jsonObject([...embeddedHeader(response.header), ['ID', jsonInt(response.ID, false)], ['TTL', jsonInt(response.TTL, false)]]));
  }
  timeToLive(response: TimeToLiveView): void {
    outLine(
      jsonObject([
        ...embeddedHeader(response.header),
        ['id', jsonInt(response.id, false)],
        ['ttl', jsonInt(response.ttl, false)],
        ['granted-ttl', jsonInt(response.grantedTtl, false)],
        ['keys', jsonArray(response.keys?.map((key) => jsonBytes(key, false)!), false)],
      ]),
    );
  }
  leases(response: etcdserverpb.LeaseLeasesResponse): void {
    outLine(
      jsonObject([
        ...embeddedHeader(response.header),
        ['leases', jsonArray(response.leases.map((lease) => jsonObject([['id', jsonInt(lease.ID, false)]])), false)],
      ]),
    );
  }
  memberAdd(response: etcdserverpb.MemberAddResponse): void {
    outLine(
      jsonObject([
        ['header', jHeader(response.header)],
        ['member', jsonPointer(response.member === undefined ? undefined : jMember(response.member))],
        ['members', jsonArray(response.members.map(jMember))],
      ]),
    );
  }
  memberRemove(_id: bigint, response: etcdserverpb.MemberRemoveResponse): void {
    outLine(jMembers(response));
  }
  memberUpdate(_id: bigint, response: etcdserverpb.MemberUpdateResponse): void {
    outLine(jMembers(response));
  }
  memberPromote(): void {
    // etcdctl 3.4 has no JSON form for promote (it crashes); say so plainly.
    unsupported('json');
  }
  memberList(response: etcdserverpb.MemberListResponse): void {
    outLine(jMembers(response));
  }
  endpointHealth(list: readonly EndpointHealth[]): void {
    outLine(
      jsonArray(
        list.map((h) =>
          jsonObject([
            ['endpoint', jsonStr(h.endpoint, false)],
            ['health', jsonBool(h.health, false)],
            ['took', jsonStr(h.took, false)],
            ['error', jsonStr(h.error)],
          ]),
        ),
        false,
      )!,
    );
  }
  endpointStatus(list: readonly EndpointStatus[]): void {
    outLine(jsonArray(list.map(({ endpoint, response }) => jsonObject([['Endpoint', jsonStr(endpoint, false)], ['Status', jStatus(response)]])), false)!);
  }
  endpointHashKv(list: readonly EndpointHashKv[]): void {
    outLine(jsonArray(list.map(({ endpoint, response }) => jsonObject([['Endpoint', jsonStr(endpoint, false)], ['HashKV', jHashKv(response)]])), false)!);
  }
  alarm(response: etcdserverpb.AlarmResponse): void {
    outLine(
      jsonObject([
        ['header', jHeader(response.header)],
        ['alarms', jsonArray(response.alarms.map((alarm) => jsonObject([['memberID', jsonInt(alarm.memberID)], ['alarm', jsonInt(alarm.alarm)]])))],
      ]),
    );
  }
}

// Fields: "Name" : value lines.

export class FieldsPrinter implements Printer {
  readonly format = 'fields' as const;

  private kv(prefix: string, kv: KeyValue): void {
    outLine(`"${prefix}Key" : ${goQuote(kv.key)}`);
    outLine(`"${prefix}CreateRevision" : ${kv.createRevision}`);
    outLine(`"${prefix}ModRevision" : ${kv.modRevision}`);
    outLine(`"${prefix}Version" : ${kv.version}`);
    outLine(`"${prefix}Value" : ${goQuote(kv.value)}`);
    outLine(`"${prefix}Lease" : ${kv.lease}`);
  }

  private header(header: Header | undefined): void {
    // etcdctl dereferences a missing header and crashes; hfctl prints zeros.
    const h = header ?? zeroHeader;
    outLine(`"ClusterID" : ${h.clusterId}`);
    outLine(`"MemberID" : ${h.memberId}`);
    outLine(`"Revision" : ${h.revision}`);
    outLine(`"RaftTerm" : ${h.raftTerm}`);
  }

  del(response: etcdserverpb.DeleteRangeResponse): void {
    this.header(response.header);
    outLine(`"Deleted" : ${response.deleted}`);
    for (const kv of response.prevKvs) this.kv('Prev', kv);
  }
  get(response: etcdserverpb.RangeResponse): void {
    this.header(response.header);
    for (const kv of response.kvs) this.kv('', kv);
    outLine(`"More" : ${response.more}`);
    outLine(`"Count" : ${response.count}`);
  }
  put(response: etcdserverpb.PutResponse): void {
    this.header(response.header);
    if (response.prevKv !== undefined) this.kv('Prev', response.prevKv);
  }
  txn(response: etcdserverpb.TxnResponse): void {
    this.header(response.header);
    outLine(`"Succeeded" : ${response.succeeded}`);
    for (const op of response.responses) {
      if (op.responseDeleteRange !== undefined) this.del(op.responseDeleteRange);
      else if (op.responsePut !== undefined) this.put(op.responsePut);
      else if (op.responseRange !== undefined) this.get(op.responseRange);
      else outLine(`"Unknown" : ${goQuote(JSON.stringify(op))}`);
    }
  }
  watch(response: WatchResponseView): void {
    this.header(response.header);
    for (const event of response.events) {
      outLine(`"Type" : ${eventTypeName(event.type)}`);
      if (event.prevKv !== undefined) this.kv('Prev', event.prevKv);
      if (event.kv !== undefined) this.kv('', event.kv);
    }
  }
  grant(response: etcdserverpb.LeaseGrantResponse): void {
    this.header(response.header);
    outLine(`"ID" : ${response.ID}`);
    outLine(`"TTL" : ${response.TTL}`);
  }
  revoke(_id: bigint, response: etcdserverpb.LeaseRevokeResponse): void {
    this.header(response.header);
  }
  keepAlive(response: etcdserverpb.LeaseKeepAliveResponse): void {
    this.header(response.header);
    outLine(`"ID" : ${response.ID}`);
    outLine(`"TTL" : ${response.TTL}`);
  }
  timeToLive(response: TimeToLiveView): void {
    this.header(response.header);
    outLine(`"ID" : ${response.id}`);
    outLine(`"TTL" : ${response.ttl}`);
    outLine(`"GrantedTTL" : ${response.grantedTtl}`);
    for (const key of response.keys ?? []) outLine(`"Key" : ${goQuote(key)}`);
  }
  leases(response: etcdserverpb.LeaseLeasesResponse): void {
    this.header(response.header);
    for (const lease of response.leases) outLine(`"ID" : ${lease.ID}`);
  }
  memberAdd(): void {
    unsupported('fields');
  }
  memberRemove(): void {
    unsupported('fields');
  }
  memberUpdate(): void {
    unsupported('fields');
  }
  memberPromote(): void {
    unsupported('fields');
  }
  memberList(response: etcdserverpb.MemberListResponse): void {
    this.header(response.header);
    for (const member of response.members) {
      outLine(`"ID" : ${member.ID}`);
      outLine(`"Name" : ${goQuote(member.name)}`);
      for (const url of member.peerURLs) outLine(`"PeerURL" : ${goQuote(url)}`);
      for (const url of member.clientURLs) outLine(`"ClientURL" : ${goQuote(url)}`);
      outLine(`"IsLearner" : ${member.isLearner}`);
      outLine('');
    }
  }
  endpointHealth(list: readonly EndpointHealth[]): void {
    for (const h of list) {
      outLine(`"Endpoint" : ${goQuote(h.endpoint)}`);
      outLine(`"Health" : ${h.health}`);
      outLine(`"Took" : ${h.took}`);
      outLine(`"Error" : ${h.error}`);
      outLine('');
    }
  }
  endpointStatus(list: readonly EndpointStatus[]): void {
    for (const { endpoint, response } of list) {
      this.header(response.header);
      outLine(`"Version" : ${goQuote(response.version)}`);
      outLine(`"DBSize" : ${response.dbSize}`);
      outLine(`"Leader" : ${response.leader}`);
      outLine(`"IsLearner" : ${response.isLearner}`);
      outLine(`"RaftIndex" : ${response.raftIndex}`);
      outLine(`"RaftTerm" : ${response.raftTerm}`);
      outLine(`"RaftAppliedIndex" : ${response.raftAppliedIndex}`);
      outLine(`"Errors" : ${goStringSlice(response.errors)}`);
      outLine(`"Endpoint" : ${goQuote(endpoint)}`);
      outLine('');
    }
  }
  endpointHashKv(list: readonly EndpointHashKv[]): void {
    for (const { endpoint, response } of list) {
      this.header(response.header);
      outLine(`"Endpoint" : ${goQuote(endpoint)}`);
      outLine(`"Hash" : ${response.hash}`);
      outLine('');
    }
  }
  alarm(response: etcdserverpb.AlarmResponse): void {
    this.header(response.header);
    for (const alarm of response.alarms) {
      outLine(`"MemberID" : ${alarm.memberID}`);
      outLine(`"AlarmType" : ${alarmTypeName(alarm.alarm)}`);
      outLine('');
    }
  }
}

// Protobuf: the response message's wire bytes, as etcdctl writes them (no newline).

export class ProtobufPrinter implements Printer {
  readonly format = 'protobuf' as const;

  private write(bytes: Uint8Array): void {
    out(bytes);
  }

  /** etcdctl refuses types that are not protobuf messages (clientv3's own structs). */
  private notAMessage(type: string): never {
    throw new CliExit(ExitCode.badFeature, `marshal unsupported for type ${type}`);
  }

  del(response: etcdserverpb.DeleteRangeResponse): void {
    this.write(etcdserverpb.DeleteRangeResponse.encode(response).finish());
  }
  get(response: etcdserverpb.RangeResponse): void {
    this.write(etcdserverpb.RangeResponse.encode(response).finish());
  }
  put(response: etcdserverpb.PutResponse): void {
    this.write(etcdserverpb.PutResponse.encode(response).finish());
  }
  txn(response: etcdserverpb.TxnResponse): void {
    this.write(etcdserverpb.TxnResponse.encode(response).finish());
  }
  watch(response: WatchResponseView): void {
    const message: etcdserverpb.WatchResponse = {
      header: response.header,
      watchId: 0n,
      created: response.created,
      canceled: response.canceled,
      compactRevision: response.compactRevision,
      cancelReason: '',
      fragment: false,
      events: [...response.events],
    };
    this.write(etcdserverpb.WatchResponse.encode(message).finish());
  }
  // clientv3's lease responses embed *pb.ResponseHeader, whose Marshal is
  // promoted: etcdctl writes the header alone.
  private header(header: Header | undefined): void {
    if (header !== undefined) this.write(etcdserverpb.ResponseHeader.encode(header).finish());
  }
  grant(response: etcdserverpb.LeaseGrantResponse): void {
    this.header(response.header);
  }
  revoke(_id: bigint, response: etcdserverpb.LeaseRevokeResponse): void {
    // LeaseRevokeResponse is a plain struct over the message: no Marshal at all.
    this.notAMessage(`clientv3.LeaseRevokeResponse ({${response.header === undefined ? '<nil>' : headerText(response.header)}})`);
  }
  keepAlive(response: etcdserverpb.LeaseKeepAliveResponse): void {
    this.header(response.header);
  }
  timeToLive(response: TimeToLiveView): void {
    this.header(response.header);
  }
  leases(response: etcdserverpb.LeaseLeasesResponse): void {
    this.header(response.header);
  }
  memberAdd(response: etcdserverpb.MemberAddResponse): void {
    this.write(etcdserverpb.MemberAddResponse.encode(response).finish());
  }
  memberRemove(_id: bigint, response: etcdserverpb.MemberRemoveResponse): void {
    this.write(etcdserverpb.MemberRemoveResponse.encode(response).finish());
  }
  memberUpdate(_id: bigint, response: etcdserverpb.MemberUpdateResponse): void {
    this.write(etcdserverpb.MemberUpdateResponse.encode(response).finish());
  }
  memberPromote(): void {
    unsupported('protobuf');
  }
  memberList(response: etcdserverpb.MemberListResponse): void {
    this.write(etcdserverpb.MemberListResponse.encode(response).finish());
  }
  endpointHealth(): void {
    unsupported('protobuf');
  }
  endpointStatus(): void {
    unsupported('protobuf');
  }
  endpointHashKv(): void {
    unsupported('protobuf');
  }
  alarm(response: etcdserverpb.AlarmResponse): void {
    this.write(etcdserverpb.AlarmResponse.encode(response).finish());
  }
}

// Table: only member list and the endpoint commands have one.

export class TablePrinter implements Printer {
  readonly format = 'table' as const;

  private table({ header, rows }: { header: string[]; rows: string[][] }): void {
    out(renderTable(header, rows));
  }

  del(): void {
    unsupported('table');
  }
  get(): void {
    unsupported('table');
  }
  put(): void {
    unsupported('table');
  }
  txn(): void {
    unsupported('table');
  }
  watch(): void {
    unsupported('table');
  }
  grant(): void {
    unsupported('table');
  }
  revoke(): void {
    unsupported('table');
  }
  keepAlive(): void {
    unsupported('table');
  }
  timeToLive(): void {
    unsupported('table');
  }
  leases(): void {
    unsupported('table');
  }
  memberAdd(): void {
    unsupported('table');
  }
  memberRemove(): void {
    unsupported('table');
  }
  memberUpdate(): void {
    unsupported('table');
  }
  memberPromote(): void {
    unsupported('table');
  }
  memberList(response: etcdserverpb.MemberListResponse): void {
    this.table(memberListTable(response));
  }
  endpointHealth(list: readonly EndpointHealth[]): void {
    this.table(endpointHealthTable(list));
  }
  endpointStatus(list: readonly EndpointStatus[]): void {
    this.table(endpointStatusTable(list));
  }
  endpointHashKv(list: readonly EndpointHashKv[]): void {
    this.table(endpointHashKvTable(list));
  }
  alarm(): void {
    unsupported('table');
  }
}

