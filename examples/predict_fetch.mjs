// POST a photo to the dog-breed API with fetch (Node 18+; the same call works in a browser page whose
// origin is in the stack's cors_allowed_origins) and print its top breeds.
//   DOGS_API_URL=https://<api>.execute-api.<region>.amazonaws.com/beta/predict DOGS_API_KEY=... \
//     node examples/predict_fetch.mjs photo.jpg
import { readFile } from "node:fs/promises";

const [photo] = process.argv.slice(2);
if (!photo) {
  console.error("usage: predict_fetch.mjs PHOTO.jpg");
  process.exit(2);
}
const image = (await readFile(photo)).toString("base64");
const response = await fetch(process.env.DOGS_API_URL, {
  method: "POST",
  headers: { "Content-Type": "application/json", "x-api-key": process.env.DOGS_API_KEY },
  body: JSON.stringify({ image, top_k: 3 }),
});
const body = await response.json();
if (!response.ok) {  // the API's own words: {"error": {"code", "message"}} or API Gateway's {"message"}
  console.error(`HTTP ${response.status}: ${body.error?.message ?? body.message}`);
  process.exit(1);
}
for (const t of body.predictions[0].top) {
  console.log(`${t.breed}\t${(t.probability * 100).toFixed(1)} %`);
}
console.log(`model: ${body.model}`);
