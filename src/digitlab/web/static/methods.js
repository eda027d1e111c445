// The four methods as both pages name them: the server's (app.js) and the static one (site.js).
"use strict";

const METHODS = {
  pixel: ["Pixel similarity", "distance to each digit's nearest ideal image: averages of alike training digits"],
  linear: ["Linear model", "one weight per pixel per digit, trained by SGD"],
  simple_net: ["Simple net", "two linear layers with a ReLU between"],
  cnn: ["CNN", "a small ResNet: convolutions and batch norm"],
};
