// MathJax 3 settings for the whole site. The notebooks write math as $...$ and $$...$$ (Jupyter's
// convention); Markdown pages go through pymdownx.arithmatex, which emits \(...\) and \[...\].
// Code cells and their outputs are <pre>/<code>, which MathJax skips.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: "tex2jax_ignore",
  },
};
