// The VS Code client of `tierline lsp`: starts the server over stdio for .tiers files.
// Everything a user sees (diagnostics, hover, completion, rename, formatting, quick
// fixes, the outline, the example code lenses) comes from the server; this file only
// starts it, restarts it on request and when its settings change.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const settings = vscode.workspace.getConfiguration("tierline");
  const [command, ...args] = settings.get("command", ["tierline"]);
  const solverMs = settings.get("solverMs", 1000);
  return {
    command,
    args: [...args, "lsp", "--solver-ms", String(solverMs)],
    transport: TransportKind.stdio,
  };
}

async function start() {
  client = new LanguageClient(
    "tierline",
    "tierline",
    serverOptions(),
    {
      documentSelector: [
        { scheme: "file", language: "tierline" },
        { scheme: "untitled", language: "tierline" },
      ],
    },
  );
  await client.start();
}

async function restart() {
  if (client) {
    await client.stop();
  }
  await start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("tierline.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("tierline")) {
        restart();
      }
    }),
  );
  await start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
