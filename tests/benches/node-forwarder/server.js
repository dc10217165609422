// Benchmark baseline for the SDP proxy: the same work in the simplest Express app. It verifies
// an HS256 token, mints a client secret at the upstream, creates the call with the offer, and
// answers with the SDP and call id. Configured by UPSTREAM (…/v1), API_KEY, JWT_SECRET, PORT.
const express = require("express");
const jwt = require("jsonwebtoken");

const upstream = process.env.UPSTREAM;
const apiKey = process.env.API_KEY;
const secret = process.env.JWT_SECRET;
const app = express();
app.use(express.json({ limit: "64kb" }));

app.post("/v1/sessions", async (req, res) => {
  const token = (req.headers.authorization || "").replace(/^Bearer /, "");
  try {
    jwt.verify(token, secret, { algorithms: ["HS256"], audience: "authenticated", issuer: "hark-dev" });
  } catch (err) {
    return res.status(401).json({ error: { code: "unauthenticated", message: err.message } });
  }
  const { sdp, interview_id: interviewId, source } = req.body || {};
  if (typeof sdp !== "string" || typeof interviewId !== "string" || typeof source !== "string") {
    return res.status(400).json({ error: { code: "invalid_request", message: "sdp, interview_id, source" } });
  }
  try {
    const session = { type: "transcription", audio: { input: { transcription: { model: "gpt-4o-transcribe" } } } };
    const minted = await fetch(`${upstream}/realtime/client_secrets`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ expires_after: { anchor: "created_at", seconds: 60 }, session }),
    });
    const { value } = await minted.json();
    const call = await fetch(`${upstream}/realtime/calls`, {
      method: "POST",
      headers: { authorization: `Bearer ${value}`, "content-type": "application/sdp" },
      body: sdp,
    });
    const answer = await call.text();
    const callId = (call.headers.get("location") || "").split("/").pop();
    res.status(201).json({ session_id: interviewId, call_id: callId, sdp: answer, model: "gpt-4o-transcribe" });
  } catch (err) {
    res.status(502).json({ error: { code: "upstream_failed", message: "upstream" } });
  }
});

app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log(`listening ${process.env.PORT}`));
