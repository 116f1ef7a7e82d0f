"""Storage providers: one small interface that every protocol front end writes through."""
