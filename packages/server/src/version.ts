/** The etcd API level Holdfast implements, reported by Status and /version. */
export const etcdCompatibleVersion = '3.4.0';
/** Holdfast's own version. */
export const holdfastVersion = '0.1.0';
