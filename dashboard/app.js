/* app.js v2 */
