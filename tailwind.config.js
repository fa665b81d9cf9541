/** @type {import('tailwindcss').Config} */
module.exports = {
  // Dark mode follows the system; see static/css/input.css.
  darkMode: "media",
  content: ["./views/**/*.templ", "./static/js/**/*.js"],
  theme: {
    extend: {
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
      },
    },
  },
  plugins: [],
};
