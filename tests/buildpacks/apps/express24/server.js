const express = require("express");
const app = express();
app.get("/", (req, res) => res.type("text/plain").send(`express on node ${process.version}`));
app.listen(process.env.PORT, "0.0.0.0");
