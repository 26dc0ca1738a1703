// Drives `hearth acp` through the official ACP TypeScript SDK (its stable v1 app API):
// initialize → session/new → session/prompt (chunks collected; permission, read and
// write callbacks answered) → session/load in a second process. Exits non-zero, saying
// what went wrong, on any failure.
//
// usage: node client.mjs HEARTH_BINARY MODEL PROJECT_DIR
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import * as acp from "@agentclientprotocol/sdk";

const [bin, model, cwd] = process.argv.slice(2);
if (!bin || !model || !cwd) {
  console.error("usage: node client.mjs HEARTH_BINARY MODEL PROJECT_DIR");
  process.exit(2);
}

function check(ok, what) {
  if (!ok) throw new Error(what);
}

// Runs `op` against a fresh `hearth acp`; resolves with the updates seen and the exit code.
async function withAgent(op) {
  const child = spawn(bin, ["acp", "-m", model, "--temp", "0", "-n", "60"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  const stream = acp.ndJsonStream(Writable.toWeb(child.stdin), Readable.toWeb(child.stdout));
  const updates = [];
  const app = acp
    .client({ name: "hearth-sdk-test" })
    .onNotification(acp.methods.client.session.update, ({ params }) => {
      updates.push(params);
    })
    .onRequest(acp.methods.client.session.requestPermission, ({ params }) => {
      const allow = params.options.find((o) => o.kind === "allow_once");
      check(allow, "no allow_once option offered");
      return { outcome: { outcome: "selected", optionId: allow.optionId } };
    })
    .onRequest(acp.methods.client.fs.readTextFile, ({ params }) => ({
      content: readFileSync(params.path, "utf8"),
    }))
    .onRequest(acp.methods.client.fs.writeTextFile, ({ params }) => {
      writeFileSync(params.path, params.content);
      return {};
    });
  const result = await app.connectWith(stream, (agent) => op(agent, updates));
  child.stdin.end();
  const code = await exited;
  check(code === 0, `hearth acp exited with ${code}`);
  return result;
}

async function initialize(agent) {
  const init = await agent.request(acp.methods.agent.initialize, {
    protocolVersion: acp.PROTOCOL_VERSION,
    clientCapabilities: { fs: { readTextFile: true, writeTextFile: true } },
    clientInfo: { name: "hearth-sdk-test", version: "1" },
  });
  check(init.protocolVersion === 1, `protocolVersion ${init.protocolVersion}`);
  check(init.agentCapabilities?.loadSession === true, "loadSession not advertised");
  check(init.agentInfo?.name === "hearth", "agentInfo.name is not hearth");
}

const text = (updates, kind) =>
  updates
    .filter((u) => u.update.sessionUpdate === kind)
    .map((u) => u.update.content?.text ?? "")
    .join("");

try {
  const { sessionId, answer } = await withAgent(async (agent, updates) => {
    await initialize(agent);
    const { sessionId } = await agent.request(acp.methods.agent.session.new, {
      cwd,
      mcpServers: [],
    });
    check(typeof sessionId === "string" && sessionId, "no sessionId");
    const resp = await agent.request(acp.methods.agent.session.prompt, {
      sessionId,
      prompt: [
        { type: "resource_link", uri: "x.py", name: "x.py" },
        { type: "text", text: "In x.py, change b to 3." },
      ],
    });
    check(resp.stopReason === "end_turn", `stopReason ${resp.stopReason}`);
    const answer = text(updates, "agent_message_chunk");
    check(answer.length > 0, "no agent_message_chunk");
    const calls = updates.filter((u) => u.update.sessionUpdate === "tool_call");
    check(calls.length === 1 && calls[0].update.kind === "edit", "no edit tool call");
    const done = updates.filter((u) => u.update.sessionUpdate === "tool_call_update");
    check(done.at(-1)?.update.status === "completed", "the edit was not completed");
    return { sessionId, answer };
  });
  await withAgent(async (agent, updates) => {
    await initialize(agent);
    await agent.request(acp.methods.agent.session.load, { sessionId, cwd, mcpServers: [] });
    check(text(updates, "user_message_chunk").includes("change b to 3"), "history not replayed");
    check(text(updates, "agent_message_chunk") === answer, "the answer was not replayed");
    const usage = updates.find((u) => u.update.sessionUpdate === "usage_update");
    check(usage && usage.update.used > 0, "the KV cache was not restored");
    const resp = await agent.request(acp.methods.agent.session.prompt, {
      sessionId,
      prompt: [{ type: "text", text: "/tokens" }],
    });
    check(resp.stopReason === "end_turn", `stopReason ${resp.stopReason}`);
  });
  console.log("sdk client: ok");
} catch (e) {
  console.error(`sdk client: FAILED: ${e?.stack ?? e}`);
  process.exit(1);
}
