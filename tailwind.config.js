/** @type {import('tailwindcss').Config} */
module.exports = {
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
