const ms = require("ms");
require("http").createServer((q, r) => r.end("pnpm " + ms(60000))).listen(process.env.PORT);
