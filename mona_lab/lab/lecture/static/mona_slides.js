/* mona_lab lecture slides (no reveal.js, no network): every <section> that nbconvert wrote
   for a slide is shown alone; Right/PageDown/Space go on, Left/PageUp/Shift+Space go back,
   Home/End jump; the address ends in #/N for slide N (counted from 1, as the counter shows),
   so #/3 opens the third slide. Without this script the deck reads as one long page. */
(function () {
  "use strict";
  var slides = [];
  document.querySelectorAll(".reveal .slides > section").forEach(function (top) {
    var inner = top.querySelectorAll(":scope > section");
    if (inner.length) {
      inner.forEach(function (section) { slides.push(section); });
    } else {
      slides.push(top);
    }
  });
  if (!slides.length) { return; }
  slides.forEach(function (slide, k) {
    slide.classList.add("mona-slide");
    slide.setAttribute("data-slide-number", String(k + 1));
  });
  document.body.classList.add("mona-slides-on");

  var nav = document.createElement("div");
  nav.id = "mona-slide-nav";
  var back = document.createElement("button");
  back.type = "button";
  back.textContent = "\u2190";
  back.title = "previous slide (Left, PageUp)";
  var counter = document.createElement("span");
  counter.id = "mona-slide-counter";
  var next = document.createElement("button");
  next.type = "button";
  next.textContent = "\u2192";
  next.title = "next slide (Right, PageDown, Space)";
  nav.appendChild(back);
  nav.appendChild(counter);
  nav.appendChild(next);
  document.body.appendChild(nav);

  var current = 0;
  function numberFromHash() {
    var match = /^#\/?(\d+)$/.exec(window.location.hash);
    return match ? parseInt(match[1], 10) : 1;
  }
  function show(number) {
    var n = Math.max(1, Math.min(slides.length, number));
    slides.forEach(function (slide) { slide.classList.remove("present"); });
    current = n;
    var slide = slides[n - 1];
    slide.classList.add("present");
    slide.scrollTop = 0;
    counter.textContent = n + " / " + slides.length;
    if (window.location.hash !== "#/" + n) {
      window.location.hash = "#/" + n;
    }
    if (window.Plotly && window.Plotly.Plots) {
      slide.querySelectorAll(".plotly-graph-div").forEach(function (plot) { window.Plotly.Plots.resize(plot); });
    }
  }
  back.addEventListener("click", function () { show(current - 1); });
  next.addEventListener("click", function () { show(current + 1); });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) { return; }
    var key = event.key;
    if (key === "ArrowRight" || key === "PageDown" || (key === " " && !event.shiftKey)) {
      show(current + 1);
    } else if (key === "ArrowLeft" || key === "PageUp" || (key === " " && event.shiftKey)) {
      show(current - 1);
    } else if (key === "Home") {
      show(1);
    } else if (key === "End") {
      show(slides.length);
    } else {
      return;
    }
    event.preventDefault();
  });
  window.addEventListener("hashchange", function () {
    if (numberFromHash() !== current) { show(numberFromHash()); }
  });
  show(numberFromHash());
}());
