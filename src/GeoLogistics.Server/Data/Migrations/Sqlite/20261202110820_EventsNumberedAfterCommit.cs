using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GeoLogistics.Server.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class EventsNumberedAfterCommit : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_Events",
                table: "Events");

            migrationBuilder.DeleteData(
                table: "Counters",
                keyColumn: "Name",
                keyValue: "events");

            migrationBuilder.AlterColumn<long>(
                name: "Seq",
                table: "Events",
                type: "INTEGER",
                nullable: true,
                oldClrType: typeof(long),
                oldType: "INTEGER");

            migrationBuilder.AddColumn<long>(
                name: "Id",
                table: "Events",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L)
                .Annotation("Sqlite:Autoincrement", true);

            migrationBuilder.AddPrimaryKey(
                name: "PK_Events",
                table: "Events",
                column: "Id");

            migrationBuilder.CreateIndex(
                name: "IX_Events_Seq",
                table: "Events",
                column: "Seq",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Events_Unnumbered",
                table: "Events",
                column: "Id",
                filter: "\"Seq\" IS NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_Events",
                table: "Events");

            migrationBuilder.DropIndex(
                name: "IX_Events_Seq",
                table: "Events");

            migrationBuilder.DropIndex(
                name: "IX_Events_Unnumbered",
                table: "Events");

            migrationBuilder.DropColumn(
                name: "Id",
                table: "Events");

            migrationBuilder.AlterColumn<long>(
                name: "Seq",
                table: "Events",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L,
                oldClrType: typeof(long),
                oldType: "INTEGER",
                oldNullable: true);

            migrationBuilder.AddPrimaryKey(
                name: "PK_Events",
                table: "Events",
                column: "Seq");

            migrationBuilder.InsertData(
                table: "Counters",
                columns: new[] { "Name", "Value" },
                values: new object[] { "events", 0L });
        }
    }
}
