/**
 * Bad input on every HTTP endpoint of the client port: malformed JSON,
 * wrong types, bodies over the limits. Each answer is the error etcd 3.4
 * gives (http-compare.test.ts and v2-compare.test.ts compare the texts with
 * a real etcd; here every endpoint is covered, without needing one), and
 * the server keeps serving.
 *
 * - v3 gateway (unary): 400 {"error","message","code":3} with Go's JSON
 *   error; a message over the gRPC limit 429 code 8 (ResourceExhausted);
 * - v3 gateway streams (watch, keepalive): a first request that cannot be
 *   read is etcd's plain error, status 500 code 2 (Unknown): that is what
 *   etcd's grpc-gateway answers, so Holdfast does too;
 * - /v2/keys: 400 {"errorCode","message","cause","index"} with etcd's codes;
 * - /health, /livez, /readyz, /version, /metrics read no body: a body,
 *   however bad or large, changes nothing; other methods get 405.
 */
import { test } from 'node:test';
import { Agent, request } from 'node:http';
import assert from 'node:assert/strict';
import { removeDirectory, startHoldfast, type RunningServer } from '../src/support.js';

interface Answer {
  readonly status: number;
  readonly body: string;
}

async function post(server: RunningServer, path: string, body: string | Buffer, method = 'POST', contentType?: string): Promise<Answer> {
  const response = await fetch(`http://${server.endpoint}${path}`, { method, body, ...(contentType === undefined ? {} : { headers: { 'Content-Type': contentType } }) });
  return { status: response.status, body: await response.text() };
}

/** Keeps connections open, as curl and fetch do: a server that answers before reading a body then reads and drops it. */
const keepAlive = new Agent({ keepAlive: true });

/** A GET that carries a body (fetch will not send one). */
function getWithBody(server: RunningServer, path: string, body: Buffer): Promise<Answer> {
  const [host, port] = server.endpoint.split(':');
  return new Promise((resolve, reject) => {
    const call = request({ host, port: Number(port), path, method: 'GET', headers: { 'Content-Length': String(body.length) }, agent: keepAlive }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    call.on('error', reject);
    call.end(body);
  });
}

function assertGatewayError(answer: Answer, status: number, code: number, message: RegExp, what: string): void {
  assert.equal(answer.status, status, `${what}: status (${answer.body.slice(0, 200)})`);
  const parsed = JSON.parse(answer.body) as { error: string; message: string; code: number };
  assert.deepEqual(Object.keys(parsed), ['error', 'message', 'code'], `${what}: etcd's error fields`);
  assert.equal(parsed.code, code, `${what}: gRPC code`);
  assert.equal(parsed.error, parsed.message);
  assert.match(parsed.message, message, what);
}

/** Every unary gateway route, with a body of the wrong type for one of its fields (or none, for the empty messages). */
const unaryRoutes: ReadonlyArray<readonly [string, string | undefined]> = [
  ['/v3/kv/range', '{"key":5}'],
  ['/v3/kv/put', '{"key":"Zm9v","lease":true}'],
  ['/v3/kv/deleterange', '{"prev_kv":"yes"}'],
  ['/v3/kv/txn', '{"compare":[{"result":"NOPE"}]}'],
  ['/v3/kv/compaction', '{"revision":1.5}'],
  ['/v3/maintenance/status', undefined],
  ['/v3/maintenance/alarm', '{"memberID":-1}'],
  ['/v3/maintenance/defragment', undefined],
  ['/v3/maintenance/hash', undefined],
  ['/v3/cluster/member/list', undefined],
  ['/v3/lease/grant', '{"TTL":"x"}'],
  ['/v3/lease/revoke', '{"ID":{}}'],
  ['/v3/lease/timetolive', '{"keys":3}'],
  ['/v3/lease/leases', undefined],
  ['/v3/kv/lease/revoke', '{"ID":[]}'],
  ['/v3/kv/lease/timetolive', '{"ID":"1e2"}'],
  ['/v3/kv/lease/leases', undefined],
];

/** (etcd 3.4 has no /v3/kv/lease/keepalive alias.) */
const streamRoutes: ReadonlyArray<readonly [string, string]> = [
  ['/v3/watch', '{"create_request":{"key":5}}'],
  ['/v3/lease/keepalive', '{"ID":true}'],
];

test('bad input on every HTTP endpoint: etcd-shaped errors, and the server keeps serving', { timeout: 120_000 }, async () => {
  const server = await startHoldfast({ extraArgs: ['--enable-v2'] });
  try {
    // Over the gRPC limit by its message size (2.2 MB), and far over anything read (12 MB).
    const overGrpcLimit = JSON.stringify({ key: 'Zm9v', value: Buffer.alloc(2_200_000, 'x').toString('base64') });
    const huge = Buffer.alloc(12 * 1024 * 1024, 'a');

    for (const [path, wrongType] of unaryRoutes) {
      assertGatewayError(await post(server, path, '{bad'), 400, 3, /^invalid character 'b' looking for beginning of object key string$/, `${path} malformed JSON`);
      assertGatewayError(await post(server, path, '{"a":'), 400, 3, /^unexpected EOF$/, `${path} truncated JSON`);
      assertGatewayError(await post(server, path, '[1]'), 400, 3, /^json: cannot unmarshal array into Go value of type map\[string\]json\.RawMessage$/, `${path} an array`);
      if (wrongType !== undefined) assertGatewayError(await post(server, path, wrongType), 400, 3, /^(json: cannot unmarshal|invalid character|unknown value)/, `${path} ${wrongType}`);
      assertGatewayError(await post(server, path, huge), 429, 8, /request is too large|received message larger than max/, `${path} 12 MB`);
    }
    assertGatewayError(await post(server, '/v3/kv/put', overGrpcLimit), 429, 8, /^grpc: received message larger than max \(2200010 vs\. 2097152\)$/, 'put over the gRPC limit');

    for (const [path, wrongType] of streamRoutes) {
      assertGatewayError(await post(server, path, '{bad'), 500, 2, /^invalid character 'b'/, `${path} malformed JSON`);
      assertGatewayError(await post(server, path, wrongType), 500, 2, /^(json: cannot unmarshal|invalid character)/, `${path} ${wrongType}`);
      // One request that never ends within any limit: the stream refuses it by its size.
      const tooLarge = await post(server, path, Buffer.concat([Buffer.from('{"create_request":{"key":"'), huge]));
      assert.ok(tooLarge.status >= 400 && tooLarge.status < 500, `${path} 12 MB: ${tooLarge.status}`);
      assert.match(tooLarge.body, /"code":8/, `${path} 12 MB: ResourceExhausted`);
    }

    // /v2/keys: etcd's v2 error codes.
    const v2Cases: ReadonlyArray<readonly [string, string, number, number, string]> = [
      ['PUT', 'value=%zz', 400, 210, 'invalid URL escape "%zz"'],
      ['PUT', 'value=1&ttl=abc', 400, 202, 'invalid value for "ttl"'],
      ['PUT', 'value=1&prevIndex=-1', 400, 203, 'invalid value for "prevIndex"'],
      ['PUT', 'value=1&dir=maybe', 400, 209, 'invalid value for "dir"'],
      ['PUT', 'value=1&prevExist=2', 400, 209, 'invalid value for prevExist'],
      ['POST', `value=${'v'.repeat(10 * 1024 * 1024)}`, 400, 210, 'http: POST too large'],
    ];
    for (const [method, form, status, errorCode, cause] of v2Cases) {
      const answer = await post(server, '/v2/keys/bad', form, method, 'application/x-www-form-urlencoded');
      assert.equal(answer.status, status, `/v2/keys ${form.slice(0, 40)}`);
      assert.deepEqual(JSON.parse(answer.body), { errorCode, message: JSON.parse(answer.body).message, cause, index: 0 });
    }
    // A JSON body is not a form: etcd reads no value from it.
    const json = await post(server, '/v2/keys/json', '{"value":"x"', 'PUT', 'application/json');
    assert.equal(json.status, 201);
    assert.equal((JSON.parse(json.body) as { node: { value: string } }).node.value, '');
    const badType = await post(server, '/v2/keys/json', 'value=1', 'PUT', ';;');
    assert.deepEqual(JSON.parse(badType.body), { errorCode: 210, message: 'Invalid POST form', cause: 'mime: no media type', index: 0 });

    // The endpoints that read no body.
    for (const path of ['/health', '/livez', '/readyz', '/version', '/metrics', '/health?serializable=maybe', '/readyz?exclude=nope&verbose']) {
      for (const body of [Buffer.from('{bad'), huge]) {
        const answer = await getWithBody(server, path, body);
        assert.equal(answer.status, 200, `GET ${path} with a ${body.length}-byte body`);
      }
    }
    for (const path of ['/health', '/livez', '/readyz', '/version']) {
      const answer = await post(server, path, '{bad');
      assert.equal(answer.status, 405, `POST ${path}`);
      assert.equal(answer.body, 'Method Not Allowed\n');
    }

    // Still serving, and still the same process.
    assert.equal(server.process.exitCode, null, 'the server did not exit');
    assert.equal((await fetch(`http://${server.endpoint}/health`)).status, 200);
    const put = await post(server, '/v3/kv/put', JSON.stringify({ key: 'Zm9v', value: 'YmFy' }));
    assert.equal(put.status, 200);
  } finally {
    keepAlive.destroy();
    await server.stop();
    removeDirectory(server.dataDir);
  }
});
