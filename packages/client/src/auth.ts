/**
 * Authentication and RBAC. authenticate() stores the token in the client,
 * which then sends it as `token` metadata on every later call and stream
 * (etcd's convention). With ClientOptions.auth the client logs in by itself
 * and again whenever the server answers "invalid auth token".
 */
import { authpb, etcdserverpb, prefixRangeEnd } from '@holdfast/proto';
import { toBuffer, toHeader, type Bytes, type ResponseHeader } from './bytes.js';
import type { ConnectionPool, RequestOptions } from './connection-pool.js';

export type PermissionType = 'read' | 'write' | 'readwrite';

export interface Permission {
  readonly type: PermissionType;
  readonly key: Buffer;
  /** Empty: the key alone; "\0": every key >= key. */
  readonly rangeEnd: Buffer;
}

const permissionTypes: Record<PermissionType, authpb.Permission_Type> = {
  read: authpb.Permission_Type.READ,
  write: authpb.Permission_Type.WRITE,
  readwrite: authpb.Permission_Type.READWRITE,
};

function fromPermissionType(type: authpb.Permission_Type): PermissionType {
  if (type === authpb.Permission_Type.WRITE) return 'write';
  if (type === authpb.Permission_Type.READWRITE) return 'readwrite';
  return 'read';
}

/** Logs in through the Auth service; the pool calls it when it has credentials and no token. */
export async function authenticateWith(pool: ConnectionPool, name: string, password: string, options: RequestOptions = {}): Promise<string> {
  const response = await pool.unary(etcdserverpb.AuthService.authenticate, { name, password }, options);
  return response.token;
}

export class AuthApi {
  constructor(private readonly pool: ConnectionPool) {}

  /** Logs in; later calls carry the token. Returns the token. */
  async authenticate(name: string, password: string, options: RequestOptions = {}): Promise<string> {
    const token = await authenticateWith(this.pool, name, password, options);
    this.pool.setToken(token);
    return token;
  }

  /** Forgets the token: later calls are anonymous. */
  logout(): void {
    this.pool.setToken(undefined);
  }

  async authEnable(options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.authEnable, {}, options)).header);
  }

  async authDisable(options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.authDisable, {}, options)).header);
  }

  /** Whether auth is enabled (etcd 3.5 and later: etcd 3.4 answers UNIMPLEMENTED). */
  async authStatus(options: RequestOptions = {}): Promise<{ header: ResponseHeader; enabled: boolean; authRevision: bigint }> {
    const response = await this.pool.unary(etcdserverpb.AuthService.authStatus, {}, options);
    return { header: toHeader(response.header), enabled: response.enabled, authRevision: response.authRevision };
  }

  async userAdd(name: string, password: string, options: RequestOptions & { noPassword?: boolean } = {}): Promise<ResponseHeader> {
    const request = { name, password, hashedPassword: '', options: { noPassword: options.noPassword ?? false } };
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.userAdd, request, options)).header);
  }

  /** The user's roles. */
  async userGet(name: string, options: RequestOptions = {}): Promise<string[]> {
    return (await this.pool.unary(etcdserverpb.AuthService.userGet, { name }, options)).roles;
  }

  async userList(options: RequestOptions = {}): Promise<string[]> {
    return (await this.pool.unary(etcdserverpb.AuthService.userList, {}, options)).users;
  }

  async userDelete(name: string, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.userDelete, { name }, options)).header);
  }

  async userChangePassword(name: string, password: string, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.userChangePassword, { name, password, hashedPassword: '' }, options)).header);
  }

  async userGrantRole(user: string, role: string, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.userGrantRole, { user, role }, options)).header);
  }

  async userRevokeRole(name: string, role: string, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.userRevokeRole, { name, role }, options)).header);
  }

  async roleAdd(name: string, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.roleAdd, { name }, options)).header);
  }

  /** The role's permissions. */
  async roleGet(role: string, options: RequestOptions = {}): Promise<Permission[]> {
    const response = await this.pool.unary(etcdserverpb.AuthService.roleGet, { role }, options);
    return response.perm.map((permission) => ({ type: fromPermissionType(permission.permType), key: permission.key, rangeEnd: permission.rangeEnd }));
  }

  async roleList(options: RequestOptions = {}): Promise<string[]> {
    return (await this.pool.unary(etcdserverpb.AuthService.roleList, {}, options)).roles;
  }

  async roleDelete(role: string, options: RequestOptions = {}): Promise<ResponseHeader> {
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.roleDelete, { role }, options)).header);
  }

  /** Grants `type` on a key, a prefix, or [key, rangeEnd). */
  async roleGrantPermission(
    role: string,
    permission: { readonly type: PermissionType; readonly key: Bytes; readonly rangeEnd?: Bytes; readonly prefix?: boolean },
    options: RequestOptions = {},
  ): Promise<ResponseHeader> {
    const key = toBuffer(permission.key);
    const rangeEnd = permission.prefix === true ? Buffer.from(prefixRangeEnd(key)) : permission.rangeEnd === undefined ? Buffer.alloc(0) : toBuffer(permission.rangeEnd);
    const request = { name: role, perm: { permType: permissionTypes[permission.type], key, rangeEnd } };
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.roleGrantPermission, request, options)).header);
  }

  async roleRevokePermission(role: string, key: Bytes, rangeEnd: Bytes = '', options: RequestOptions = {}): Promise<ResponseHeader> {
    const request = { role, key: toBuffer(key), rangeEnd: toBuffer(rangeEnd) };
    return toHeader((await this.pool.unary(etcdserverpb.AuthService.roleRevokePermission, request, options)).header);
  }
}
