// Preloaded into Artillery by compare.sh (`node --require offline.cjs …`): keeps every
// connection Artillery makes on the loopback interface.
//
// Artillery 2 sends a "usage ping" to PostHog (app.posthog.com) at the end of every run even
// when ARTILLERY_DISABLE_TELEMETRY is set (lib/telemetry.js builds the PostHog client either
// way and only strips the event's properties). Its `require('posthog-node')` sits in a
// try/catch that falls back to no-op telemetry, so failing that one require turns it off.
// As a guard for anything else, DNS lookups of names other than localhost and TCP connections
// to non-loopback addresses fail with an error instead of leaving the machine.
'use strict';

const Module = require('node:module');
const dns = require('node:dns');
const net = require('node:net');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'posthog-node') {
    const err = new Error("'posthog-node' is disabled by scripts/artillery/offline.cjs");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolve.call(this, request, ...rest);
};

function isLoopback(host) {
  if (host === undefined || host === null || host === '' || host === 'localhost') return true;
  const h = String(host).replace(/^\[|\]$/g, '');
  if (h === '::1') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return false;
}

function refused(what) {
  const err = new Error(`${what}: only loopback addresses are allowed (scripts/artillery/offline.cjs)`);
  err.code = 'ECONNREFUSED';
  return err;
}

const lookup = dns.lookup;
dns.lookup = function (hostname, options, callback) {
  if (!isLoopback(hostname)) {
    const cb = typeof options === 'function' ? options : callback;
    process.nextTick(cb, refused(`DNS lookup of ${hostname}`));
    return {};
  }
  return lookup.call(this, hostname, options, callback);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // Node calls connect again with its own normalised [options, callback] array
  const [options] = Array.isArray(args[0]) ? args[0] : net._normalizeArgs(args);
  if (options && typeof options === 'object' && !options.path && !isLoopback(options.host)) {
    process.nextTick(() => this.destroy(refused(`connection to ${options.host}:${options.port}`)));
    return this;
  }
  return connect.apply(this, args);
};
