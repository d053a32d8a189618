using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GeoLogistics.Server.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class OrderSerialSequence : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Order serials from a sequence (no row lock between creators), continuing after the counter row.
            migrationBuilder.Sql("""
                CREATE SEQUENCE "OrderSerials" AS bigint;
                SELECT setval('"OrderSerials"', GREATEST(
                    (SELECT COALESCE(MAX("Value"), 0) FROM "Counters" WHERE "Name" = 'orders'),
                    (SELECT COALESCE(MAX("Serial"), 0) FROM "Orders")) + 1, false);
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                UPDATE "Counters" SET "Value" = GREATEST("Value", (SELECT COALESCE(MAX("Serial"), 0) FROM "Orders")) WHERE "Name" = 'orders';
                DROP SEQUENCE "OrderSerials";
                """);
        }
    }
}
