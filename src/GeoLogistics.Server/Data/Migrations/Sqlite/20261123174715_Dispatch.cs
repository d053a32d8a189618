using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GeoLogistics.Server.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Dispatch : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Drivers_Status",
                table: "Drivers");

            migrationBuilder.AddColumn<string>(
                name: "DispatchFailure",
                table: "Orders",
                type: "TEXT",
                maxLength: 40,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "Cell",
                table: "Drivers",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "OrderDeclines",
                columns: table => new
                {
                    OrderId = table.Column<Guid>(type: "TEXT", nullable: false),
                    DriverId = table.Column<Guid>(type: "TEXT", nullable: false),
                    At = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_OrderDeclines", x => new { x.OrderId, x.DriverId });
                    table.ForeignKey(
                        name: "FK_OrderDeclines_Orders_OrderId",
                        column: x => x.OrderId,
                        principalTable: "Orders",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Drivers_Status_Cell",
                table: "Drivers",
                columns: new[] { "Status", "Cell" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "OrderDeclines");

            migrationBuilder.DropIndex(
                name: "IX_Drivers_Status_Cell",
                table: "Drivers");

            migrationBuilder.DropColumn(
                name: "DispatchFailure",
                table: "Orders");

            migrationBuilder.DropColumn(
                name: "Cell",
                table: "Drivers");

            migrationBuilder.CreateIndex(
                name: "IX_Drivers_Status",
                table: "Drivers",
                column: "Status");
        }
    }
}
