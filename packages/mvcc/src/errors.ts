/**
 * MVCC errors. The messages are etcd's mvcc messages; the server maps each
 * class to its gRPC status and the "etcdserver: " prefixed text in one place.
 */
export class MvccError extends Error {
  override name = 'MvccError';
}

/** The requested revision is at or below the compacted one (and not equal to it, for reads). */
export class CompactedError extends MvccError {
  override name = 'CompactedError';
  readonly compactRevision: number;
  constructor(compactRevision: number) {
    super('mvcc: required revision has been compacted');
    this.compactRevision = compactRevision;
  }
}

/** The requested revision is newer than the store's current one. */
export class FutureRevisionError extends MvccError {
  override name = 'FutureRevisionError';
  constructor() {
    super('mvcc: required revision is a future revision');
  }
}

/** A stored record is unreadable: the server must stop rather than serve wrong data. */
export class MvccCorruptError extends MvccError {
  override name = 'MvccCorruptError';
}
