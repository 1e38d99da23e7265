// DOM helpers.  Every string goes into the page as text: paths, hosts
// and client addresses come from the network and may be hostile, so
// nothing here (or anywhere in the dashboard) parses HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'on') {
      for (const [type, fn] of Object.entries(value)) {
        node.addEventListener(type, fn);
      }
    } else if (name === 'text') {
      node.textContent = String(value);
    } else if (name === 'style' || name.startsWith('on')) {
      throw new Error('dom: no inline style or handler attributes');
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'object' ? child : String(child));
  }
  return node;
}

// el('td', {class: 'num'}, 'text', otherNode)
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Replaces the children of node by the given ones.
export function fill(node, ...children) {
  clear(node);
  return build(node, null, children);
}

export function byId(id) {
  return document.getElementById(id);
}

export function setText(idOrNode, s) {
  const node = typeof idOrNode === 'string' ? byId(idOrNode) : idOrNode;
  node.textContent = s;
  return node;
}
