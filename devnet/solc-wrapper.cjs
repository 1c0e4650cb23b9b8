#!/usr/bin/env node
// A minimal solc command-line emulation over solc-js, so forge can compile offline.
//
// Supported:  solc --version
//             solc [--allow-paths P] [--base-path P] [--include-path P]... --standard-json [file]
// Standard JSON input is read from the file argument or stdin; output goes to stdout.
// Imports the input does not already carry are read from disk, resolved against the base
// path, the include paths and the current directory (only inside allowed roots).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const solc = require('solc');

function cliVersion() {
  // solc-js reports e.g. "0.8.37+commit.abcdef12.Emscripten.clang"; native solc prints
  // "0.8.37+commit.abcdef12.Linux.g++" which is the form forge parses.
  const [semver, commit] = solc.version().split('+');
  const hash = (commit || 'commit.00000000').split('.').slice(0, 2).join('.');
  return `${semver}+${hash}.Linux.g++`;
}

function parseArgs(argv) {
  const opts = { standardJson: false, version: false, basePath: null, includePaths: [], allowPaths: [], file: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (arg.includes('=')) return arg.slice(arg.indexOf('=') + 1);
      i += 1;
      return argv[i];
    };
    if (arg === '--version' || arg === '-v') opts.version = true;
    else if (arg === '--standard-json') opts.standardJson = true;
    else if (arg.startsWith('--base-path')) opts.basePath = value();
    else if (arg.startsWith('--include-path')) opts.includePaths.push(value());
    else if (arg.startsWith('--allow-paths')) opts.allowPaths.push(...value().split(','));
    else if (arg.startsWith('--')) { /* ignore other flags (e.g. --no-color) */ }
    else opts.file = arg;
  }
  return opts;
}

function makeImportCallback(opts) {
  const roots = [opts.basePath, ...opts.includePaths, process.cwd()].filter(Boolean).map((p) => path.resolve(p));
  const allowed = [...roots, ...opts.allowPaths.filter(Boolean).map((p) => path.resolve(p))];
  const isAllowed = (p) => allowed.some((root) => p === root || p.startsWith(root + path.sep));
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      const resolved = path.resolve(candidate);
      if (isAllowed(resolved) && fs.existsSync(resolved)) {
        return { contents: fs.readFileSync(resolved, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${cliVersion()}\n`);
    return 0;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc-wrapper: only --version and --standard-json are supported\n');
    return 1;
  }
  const input = fs.readFileSync(opts.file || 0, 'utf8');
  const output = solc.compile(input, { import: makeImportCallback(opts) });
  process.stdout.write(output);
  return 0;
}

process.exitCode = main();
